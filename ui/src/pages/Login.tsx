// Sign in by pasting an API token; it is kept in sessionStorage for this tab only.
import { type FormEvent, useState } from 'react';
import { ErrorBox } from '../components/ui';
import { useSession } from '../lib/auth';
import { useTitle } from '../lib/router';

export function Login() {
  useTitle('Sign in');
  const { login, endedBecause } = useSession();
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await login(token.trim());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" style={{ maxWidth: '34rem', margin: '8vh auto', padding: '1rem' }}>
      <div className="panel">
        <h1>Sign in to Gantry</h1>
        {endedBecause && !error ? (
          <div className="alert warn" role="alert" data-testid="signed-out-reason">
            <strong>You were signed out:</strong> {endedBecause}
          </div>
        ) : null}
        <form onSubmit={submit}>
          <label htmlFor="token">API token</label>
          <input
            id="token"
            name="token"
            type="password"
            autoComplete="off"
            required
            placeholder="gty_…"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            style={{ width: '100%' }}
            aria-describedby="token-hint"
          />
          <p id="token-hint" className="hint">
            The first start of the server wrote the admin token to <code>.gantry/admin.token</code> in its data directory (
            <code>cat .gantry/admin.token</code>). Create more under Admin → Tokens or with <code>npx gantry token create NAME</code>. The
            token stays in this browser tab only (sessionStorage).
          </p>
          <button type="submit" className="primary" disabled={busy || !token.trim()}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <ErrorBox error={error} title="Sign-in failed" />
      </div>
    </main>
  );
}
