// Maps every error to an RFC 9457 problem document with a stable code. A client's mistake never becomes a 5xx.
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { GantryError, type ProblemField } from '../core/errors.js';
import { isTransientDbError } from '../store/db.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  requestId?: string;
  errors?: ProblemField[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function problem(status: number, code: string, detail: string, fields?: ProblemField[]): Problem {
  return {
    type: `https://gantry.dev/problems/${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(fields && fields.length > 0 ? { errors: fields } : {}),
  };
}

interface PgError {
  code: string;
  constraint?: string;
  column?: string;
  detail?: string;
  table?: string;
  message: string;
}

function isPgError(err: unknown): err is PgError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((err as { code: string }).code) &&
    'severity' in err
  );
}

/**
 * Names the column a constraint is about, e.g. "environments_tenant_id_name_key" → "name". Under
 * row-level security PostgreSQL leaves out the key detail, so the constraint name is the source.
 */
function fieldOfConstraint(err: PgError): string | undefined {
  if (err.column) return camel(err.column);
  if (!err.constraint || !err.table) return undefined;
  const cols = err.constraint
    .replace(new RegExp(`^${err.table}_`), '')
    .replace(/_(key|fkey|check|idx)$/, '')
    .replace(/^tenant_id_/, '');
  return cols ? camel(cols) : undefined;
}

export function camel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function toProblem(err: unknown): Problem {
  if (err instanceof GantryError) return problem(err.status, err.code, err.message, err.fields);
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = (err as FastifyError).validationContext ?? 'body';
    const fields = err.validation.map((v) => {
      const p = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
      const keys = v.keyword === 'unrecognized_keys' ? ((v.params as { keys?: string[] }).keys ?? []) : [];
      const path = [where, p, keys.join(',')].filter(Boolean).join('.');
      return { path, message: v.message ?? 'invalid' };
    });
    const first = fields[0];
    return problem(400, 'validation_failed', first ? `Invalid ${first.path}: ${first.message}` : 'Invalid request.', fields);
  }
  if (isPgError(err)) {
    const field = fieldOfConstraint(err);
    const fields = field ? [{ path: `body.${field}`, message: err.code === '23505' ? 'already taken' : 'invalid value' }] : undefined;
    switch (err.code) {
      case '23505':
        return problem(
          409,
          'already_exists',
          `${field ? `This ${field}` : 'A unique value'} is already taken in this tenant; choose another.`,
          fields,
        );
      case '23503':
        return problem(
          422,
          'reference_invalid',
          `A referenced resource does not exist or is still in use${err.detail ? `: ${err.detail}` : '.'}`,
          fields,
        );
      case '23001': {
        // ON DELETE RESTRICT: the row is still referenced (e.g. an environment that has targets).
        const by = /on table "([a-z_]+)"$/.exec(err.message)?.[1];
        return problem(
          409,
          'still_referenced',
          `This resource is still in use${by ? ` by ${by.replace(/_/g, ' ')}` : ''}; delete or move those first, then try again.`,
        );
      }
      case '23514':
      case '23502':
        return problem(
          400,
          'constraint_violated',
          `A value breaks a rule of the schema (${err.constraint ?? err.column ?? 'check'}).`,
          fields,
        );
      case '22P02':
      case '22007':
      case '22008':
      case '22003':
        return problem(400, 'invalid_value', 'A value has the wrong format.', fields);
      case '42501':
        return problem(404, 'not_found', 'The resource was not found in this tenant.');
      case 'GT001':
        return problem(409, 'append_only', 'This record is append-only and cannot be changed or deleted.');
      case 'GT002':
        // raised by the releases immutability trigger (000020_releases.sql); its message names the rule
        return problem(409, 'release_immutable', (err as PgError & { message?: string }).message ?? 'This release is immutable.');
    }
  }
  const fe = err as FastifyError;
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code =
      (
        {
          FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
          FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
          FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
          FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
          FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
          FST_ERR_BAD_URL: 'invalid_url',
        } as Record<string, string>
      )[fe.code] ?? 'bad_request';
    const detail =
      code === 'malformed_json'
        ? `The request body is not valid JSON: ${fe.message}`
        : code === 'body_too_large'
          ? 'The request body is larger than the server accepts (1 MiB).'
          : code === 'unsupported_media_type'
            ? 'Send the body as application/json.'
            : code === 'invalid_url'
              ? 'The URL path is not valid percent-encoded UTF-8; encode each path segment with encodeURIComponent.'
              : fe.message;
    return problem(fe.statusCode, code, detail);
  }
  // The database connection broke (PostgreSQL restarting or failing over): the same request may succeed
  // in a moment — say so instead of an internal error.
  if (isTransientDbError(err))
    return problem(
      503,
      'database_unavailable',
      'The database is unavailable for a moment (restarting or failing over); retry the request.',
    );
  return problem(500, 'internal', 'An internal error occurred; the server log has the details under this request id.');
}

export function sendProblem(req: FastifyRequest, reply: FastifyReply, p: Problem): FastifyReply {
  return reply
    .status(p.status)
    .type('application/problem+json')
    .send({ ...p, instance: req.url, requestId: String(req.id) });
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const p = toProblem(err);
  if (p.status >= 500) req.log.error({ err }, 'request failed');
  else req.log.info({ code: p.code, status: p.status }, 'request refused');
  return sendProblem(req, reply, p);
}

/**
 * Answers what Node's HTTP parser refuses before a request exists (headers over 16 KiB, a malformed request
 * line) with a problem document too, as Fastify's default handler does with plain JSON.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const p =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? problem(
          431,
          'headers_too_large',
          'The request line and headers are larger than the server accepts (16 KiB); send long values in the body.',
        )
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? problem(408, 'request_timeout', 'The request did not arrive in time; send it again.')
        : problem(400, 'bad_request', 'The request is not valid HTTP/1.1.');
  const body = JSON.stringify(p);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${p.status} ${p.title}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/problem+json\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
