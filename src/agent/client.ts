// The agent's HTTP client: JSON over fetch with the agent credential; problem documents become AgentHttpErrors.

export class AgentHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class AgentClient {
  constructor(
    readonly server: string,
    private credential: string | undefined,
  ) {}

  setCredential(c: string): void {
    this.credential = c;
  }

  async post<T>(apiPath: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await fetch(`${this.server.replace(/\/$/, '')}/api/v1${apiPath}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'gantry-agent/0.1.0',
        ...(this.credential ? { authorization: `Bearer ${this.credential}` } : {}),
        ...headers,
      },
      body: JSON.stringify(body ?? {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    // any: JSON of the protocol's answers, typed by the caller's T
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok)
      throw new AgentHttpError(res.status, parsed?.code ?? `http_${res.status}`, parsed?.detail ?? `HTTP ${res.status} from ${apiPath}`);
    return parsed as T;
  }
}
