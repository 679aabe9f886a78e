// The filters above a list page: a labelled <select> whose empty value means "any", for a status or an
// environment. Each page keeps only what differs: its id, its statuses, and where the choice lives
// (component state, or the URL query).
import { listEnvironments } from '../lib/data';
import { useApi } from '../lib/useApi';

export interface FilterProps<V extends string> {
  /** The select's id; the label points at it, and browser tests find the select by it. */
  id: string;
  /** The chosen value; '' is the first option, no filter. */
  value: V | '';
  onChange: (value: V | '') => void;
}

/** A labelled <select>: the no-filter option, then one option per value. */
export function FilterSelect<V extends string>({
  id,
  label,
  values,
  text = (v) => v,
  value,
  onChange,
}: FilterProps<V> & { label: string; values: readonly V[]; text?: (value: V) => string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as V | '')}>
        <option value="">any</option>
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

/** "Environment", by name (the API's `environment` filter takes a name), from the tenant's environments. */
export function EnvironmentFilter(props: FilterProps<string>) {
  const envs = useApi(listEnvironments, []);
  return <FilterSelect {...props} label="Environment" values={envs.data?.map((e) => e.name) ?? []} />;
}
