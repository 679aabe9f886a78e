// "Add target": a form for a docker_host, compose_host or ssh_host target, so targets can be set up
// in the browser without the CLI. The server validates the connection per type and names bad fields.
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../api/client';
import { ErrorBox } from './ui';

type TargetType = 'docker_host' | 'compose_host' | 'ssh_host';

function labelsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export function NewTarget({ envs, onCreated }: { envs: { id: string; name: string }[]; onCreated: () => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [env, setEnv] = useState('');
  const [type, setType] = useState<TargetType>('docker_host');
  const [dockerHost, setDockerHost] = useState('unix:///var/run/docker.sock');
  const [projectDir, setProjectDir] = useState('/srv/app');
  const [composeCommand, setComposeCommand] = useState('docker compose');
  const [host, setHost] = useState('');
  const [port, setPort] = useState('22');
  const [user, setUser] = useState('deploy');
  const [credentialRef, setCredentialRef] = useState('');
  const [labels, setLabels] = useState('');
  const [error, setError] = useState<unknown>();
  const [created, setCreated] = useState<string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const environmentId = env || envs[0]?.id;
    const connection =
      type === 'docker_host'
        ? { dockerHost }
        : type === 'compose_host'
          ? { dockerHost, projectDir, composeCommand }
          : { host, port: Number(port), user, credentialRef };
    try {
      // The body is a union per target type; the form builds the matching shape for the chosen type.
      const body = { name, environmentId, targetType: type, connection, labels: labelsOf(labels) } as never;
      const t = await unwrap(api.POST('/api/v1/targets', { body }));
      setCreated(t.name);
      setName('');
      await onCreated();
    } catch (err) {
      setError(err);
    }
  };

  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Add target
      </button>
    );
  }
  return (
    <form className="panel" onSubmit={submit} aria-label="New target">
      <h2>New target</h2>
      <div className="row" style={{ alignItems: 'flex-end', flexWrap: 'wrap' }}>
        <div className="field">
          <label htmlFor="nt-name">Name</label>
          <input id="nt-name" value={name} onChange={(e) => setName(e.target.value)} required placeholder="web-1" />
        </div>
        <div className="field">
          <label htmlFor="nt-env">Environment</label>
          <select id="nt-env" value={env} onChange={(e) => setEnv(e.target.value)} required>
            {envs.map((e) => (
              <option key={e.id} value={e.id}>
                {e.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="nt-type">Type</label>
          <select id="nt-type" value={type} onChange={(e) => setType(e.target.value as TargetType)}>
            <option value="docker_host">Docker host (through an agent)</option>
            <option value="compose_host">Compose host (through an agent)</option>
            <option value="ssh_host">SSH host (agentless)</option>
          </select>
        </div>
        {type !== 'ssh_host' ? (
          <div className="field">
            <label htmlFor="nt-docker">Docker API</label>
            <input id="nt-docker" value={dockerHost} onChange={(e) => setDockerHost(e.target.value)} required />
          </div>
        ) : null}
        {type === 'compose_host' ? (
          <>
            <div className="field">
              <label htmlFor="nt-dir">Project directory</label>
              <input id="nt-dir" value={projectDir} onChange={(e) => setProjectDir(e.target.value)} required />
            </div>
            <div className="field">
              <label htmlFor="nt-cmd">Compose command</label>
              <input id="nt-cmd" value={composeCommand} onChange={(e) => setComposeCommand(e.target.value)} required />
            </div>
          </>
        ) : null}
        {type === 'ssh_host' ? (
          <>
            <div className="field">
              <label htmlFor="nt-host">Host</label>
              <input id="nt-host" value={host} onChange={(e) => setHost(e.target.value)} required placeholder="10.0.0.5" />
            </div>
            <div className="field">
              <label htmlFor="nt-port">Port</label>
              <input
                id="nt-port"
                type="number"
                min={1}
                max={65535}
                value={port}
                onChange={(e) => setPort(e.target.value)}
                style={{ width: '6rem' }}
              />
            </div>
            <div className="field">
              <label htmlFor="nt-user">User</label>
              <input id="nt-user" value={user} onChange={(e) => setUser(e.target.value)} required />
            </div>
            <div className="field">
              <label htmlFor="nt-cred">Key reference</label>
              <input
                id="nt-cred"
                value={credentialRef}
                onChange={(e) => setCredentialRef(e.target.value)}
                required
                placeholder="file:/etc/gantry/deploy_key"
              />
            </div>
          </>
        ) : null}
        <div className="field">
          <label htmlFor="nt-labels">Labels (k=v, comma separated)</label>
          <input id="nt-labels" value={labels} onChange={(e) => setLabels(e.target.value)} placeholder="role=web, region=eu" />
        </div>
        <button type="submit" className="primary">
          Create target
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {created ? (
        <p className="alert ok" role="status">
          Created target {created}.
        </p>
      ) : null}
      <ErrorBox error={error} title="Not created" />
    </form>
  );
}
