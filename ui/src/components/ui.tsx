// Small shared pieces: status badges, digests, times, errors, loading states.
import { type ReactNode, useState } from 'react';
import { ApiError } from '../api/client';
import { useSession } from '../lib/auth';

const TONE: Record<string, 'ok' | 'warn' | 'bad' | 'info' | ''> = {
  healthy: 'ok',
  online: 'ok',
  pass: 'ok',
  passed: 'ok',
  succeeded: 'ok',
  deployed: 'ok',
  approved: 'ok',
  ready: 'info',
  verified: 'ok',
  running: 'info',
  deploying: 'info',
  assigned: 'info',
  awaiting_approval: 'warn',
  waiting: 'warn',
  pending: 'warn',
  degraded: 'warn',
  draft: '',
  unknown: '',
  skipped: '',
  cancelled: '',
  deprecated: '',
  offline: 'bad',
  unhealthy: 'bad',
  fail: 'bad',
  failed: 'bad',
  rejected: 'bad',
  rolled_back: 'warn',
  drift: 'bad',
  overridden: 'warn',
  frozen: 'warn',
  create: 'info',
  recreate: 'warn',
  remove: 'bad',
  unchanged: '',
  promoted: 'ok',
  applied: 'ok',
  promoting: 'info',
  rolling_back: 'warn',
  paused: 'warn',
  aborted: 'warn',
  inconclusive: 'warn',
  keep: '',
  deploy: 'info',
  skip: '',
};

export function toneOf(status: string): string {
  return TONE[status] ?? '';
}

export function Badge({ status, label }: { status: string; label?: string }) {
  return <span className={`badge ${toneOf(status)}`}>{label ?? status.replaceAll('_', ' ')}</span>;
}

/** Older names for the shared formatting pieces (format.tsx): a time reads "14:05 (3 min ago)". */
export { Digest, relative, When as Time } from './format';

/** An error with the server's problem details; `onRetry` adds a Retry button (a load that failed can be tried again). */
export function ErrorBox({ error, title, onRetry }: { error: unknown; title?: string; onRetry?: () => unknown }) {
  if (!error) return null;
  const err = error instanceof Error ? error : new Error(String(error));
  const problem = err instanceof ApiError ? err.problem : undefined;
  return (
    <div className="alert bad" role="alert">
      <strong>{title ?? 'Something went wrong'}</strong>
      {problem ? ` (${problem.status} ${problem.code})` : ''}: {err.message}
      {problem?.errors?.length ? (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.path}>
              <code>{e.path}</code>: {e.message}
            </li>
          ))}
        </ul>
      ) : null}
      {onRetry ? (
        <div>
          <button type="button" onClick={() => void onRetry()} style={{ marginTop: '0.4rem' }}>
            Retry
          </button>
        </div>
      ) : null}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="muted">{children}</p>;
}

/** A button that runs an async action, shows it is busy and reports a failure next to itself. */
export function ActionButton({
  onAction,
  children,
  className,
  disabled,
  title,
}: {
  onAction: () => Promise<unknown>;
  children: ReactNode;
  className?: string;
  disabled?: boolean;
  title?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  return (
    <span>
      <button
        type="button"
        className={className}
        disabled={disabled || busy}
        title={title}
        aria-busy={busy}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            await onAction();
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        {children}
      </button>
      <ErrorBox error={error} title="Failed" />
    </span>
  );
}

/**
 * A <pre> that may scroll: keyboard users reach it with Tab to scroll it (WCAG 2.1.1; axe's
 * scrollable-region-focusable), so it takes focus like the scrollable region it is.
 */
export function ScrollPre({
  children,
  label,
  role = 'region',
  ...rest
}: {
  children: ReactNode;
  label: string;
  className?: string;
  role?: 'region' | 'log';
  'data-testid'?: string;
}) {
  return (
    // biome-ignore lint/a11y/useAriaPropsSupportedByRole: the role (region or log) is set, so the label is supported; tabIndex lets the keyboard scroll it
    <pre tabIndex={0} role={role} aria-label={label} {...rest}>
      {children}
    </pre>
  );
}

export function Json({ value, label = 'JSON' }: { value: unknown; label?: string }) {
  return <ScrollPre label={label}>{JSON.stringify(value, null, 2)}</ScrollPre>;
}

/**
 * Says why the signed-in user does not see an action (the API would refuse it for their roles); renders
 * nothing when one of `roles` (or admin) is theirs.
 */
export function RoleNote({ roles, what }: { roles: string[]; what: string }) {
  const { me, hasRole } = useSession();
  if (hasRole(...roles)) return null;
  const needed = [...new Set(['admin', ...roles])];
  return (
    <p className="alert info small" data-testid="role-note">
      {what} needs {needed.length > 1 ? 'one of the roles' : 'the role'} {needed.join(', ')}; you have {me?.roles.join(', ') || 'none'}.
    </p>
  );
}
