// "Add an agent": creates a one-time join token and shows the command to run on the host, so an agent
// can be added from the browser (the token is shown once; only its hash is kept).
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import { ActionButton, ErrorBox } from './ui';

export function JoinToken() {
  const [token, setToken] = useState<{ token: string; expiresAt: string }>();
  const [error, setError] = useState<unknown>();
  const create = async () => {
    setError(undefined);
    try {
      const t = await unwrap(api.POST('/api/v1/agents/tokens', { body: { expiresInSeconds: 3600 } }));
      setToken({ token: t.token, expiresAt: t.expiresAt });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="panel">
      <ActionButton onAction={create}>Create join token</ActionButton>
      {token ? (
        <div className="alert ok" role="status">
          <p>Run this on the host within the hour (the token works once and is not shown again):</p>
          <pre data-testid="agent-command">
            npx gantry agent run --server {window.location.origin} --join-token {token.token}
          </pre>
        </div>
      ) : null}
      <ErrorBox error={error} title="No token" />
    </div>
  );
}
