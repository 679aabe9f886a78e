// The API client: openapi-fetch typed by the generated schema (src/api/schema.d.ts), a bearer token from
// sessionStorage, and RFC 9457 problems turned into ApiError so pages can show `detail` and branch on `code`.
import createClient from 'openapi-fetch';
import type { paths } from './schema';

const TOKEN_KEY = 'gantry.token';

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event('gantry:token'));
}

export interface Problem {
  status: number;
  code: string;
  title?: string;
  detail?: string;
  errors?: { path: string; message: string }[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
  }
}

function toProblem(status: number, body: unknown): Problem {
  if (body && typeof body === 'object' && 'code' in body) return { status, ...(body as Omit<Problem, 'status'>) };
  return { status, code: status === 404 ? 'not_found' : 'http_error', detail: typeof body === 'string' ? body : `HTTP ${status}` };
}

function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

export const api = createClient<paths>({ baseUrl: '' });
api.use({
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set('authorization', `Bearer ${token}`);
    return request;
  },
  async onResponse({ response }) {
    if (response.status === 401 && getToken()) {
      // The server says why (revoked, expired, unknown token); the sign-in page shows it.
      const body: unknown = await response
        .clone()
        .json()
        .catch(() => undefined);
      const detail = body && typeof body === 'object' && 'detail' in body && typeof body.detail === 'string' ? body.detail : undefined;
      window.dispatchEvent(new CustomEvent<string | undefined>('gantry:unauthorized', { detail }));
    }
    return response;
  },
});

/** Awaits an openapi-fetch call and returns its data, or throws ApiError with the problem document. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw new ApiError(toProblem(response.status, error));
  return data as T;
}

/** Downloads a response body as a file (e.g. an evidence bundle). */
export async function download(url: string, filename: string): Promise<Blob> {
  const res = await fetch(url, { headers: authHeaders() });
  if (!res.ok) throw new ApiError(toProblem(res.status, await res.text()));
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  return blob;
}

/**
 * Reads a text/event-stream with fetch (EventSource cannot send the bearer header) and calls `onEvent`
 * per event until the stream ends or `signal` aborts. Resolves false when the server has no stream.
 */
export async function streamEvents(url: string, onEvent: (event: string, data: string) => void, signal: AbortSignal): Promise<boolean> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...authHeaders() }, signal });
  if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) return false;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return true;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(event, data.join('\n'));
      end = buffer.indexOf('\n\n');
    }
  }
}
