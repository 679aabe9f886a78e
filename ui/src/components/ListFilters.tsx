// The filters above a list page: a labelled <select> whose empty value means "any", for a status or an
// environment. Each page keeps only what differs: its id, its statuses, and where the choice lives
// (component state, or the URL query).
import type { Environment } from '../api/types';
import { listEnvironments } from '../lib/data';
import { useApi } from '../lib/useApi';

export interface FilterProps<V extends string> {
  /** The select's id; the label points at it, and browser tests find the select by it. */
  id: string;
  /** The chosen value; '' is the first option, no filter. */
  value: V | '';
  onChange: (value: V | '') => void;
  /** The text of the no-filter option. */
  anyText?: string;
  /** The wrapper's class: `field` unless the surrounding row wants another ('' for none). */
  className?: string;
}

/** A labelled <select>: the no-filter option, then one option per value. */
export function FilterSelect<V extends string>({
  id,
  label,
  values,
  text = (v) => v,
  value,
  onChange,
  anyText = 'any',
  className = 'field',
}: FilterProps<V> & { label: string; values: readonly V[]; text?: (value: V) => string }) {
  return (
    <div className={className || undefined}>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as V | '')}>
        <option value="">{anyText}</option>
        {values.map((v) => (
          <option key={v} value={v}>
            {text(v)}
          </option>
        ))}
      </select>
    </div>
  );
}

/** "Status": the statuses as the badges write them (underscores as spaces). */
export function StatusFilter<S extends string>(props: FilterProps<S> & { statuses: readonly S[] }) {
  const { statuses, ...rest } = props;
  return <FilterSelect {...rest} label="Status" values={statuses} text={(s) => s.replaceAll('_', ' ')} />;
}

/**
 * "Environment", by name (the API's `environment` filter takes a name). A page that has loaded the
 * environments already passes them; otherwise they are loaded here.
 */
export function EnvironmentFilter(props: FilterProps<string> & { environments?: Environment[] }) {
  const { environments, ...rest } = props;
  const loaded = useApi(listEnvironments, [], { enabled: !environments });
  const names = (environments ?? loaded.data ?? []).map((e) => e.name);
  return <FilterSelect {...rest} label="Environment" values={names} />;
}
