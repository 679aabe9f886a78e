// Typed errors with stable codes; mapped once to RFC 9457 problem documents by the HTTP layer.

export interface ProblemField {
  path: string;
  message: string;
}

export class GantryError extends Error {
  readonly code: string;
  readonly status: number;
  readonly fields: ProblemField[] | undefined;

  constructor(code: string, status: number, message: string, fields?: ProblemField[]) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.fields = fields;
  }
}

export class ValidationError extends GantryError {
  constructor(message: string, fields?: ProblemField[], code = 'validation_failed') {
    super(code, 400, message, fields);
  }
}

export class UnauthorizedError extends GantryError {
  constructor(message = 'A valid API token is required: send "Authorization: Bearer <token>" (see `gantry login`).') {
    super('unauthorized', 401, message);
  }
}

export class ForbiddenError extends GantryError {
  constructor(message: string, code = 'forbidden') {
    super(code, 403, message);
  }
}

export class NotFoundError extends GantryError {
  constructor(kind: string, ref: string) {
    super('not_found', 404, `${kind} "${ref}" was not found in this tenant.`);
  }
}

export class ConflictError extends GantryError {
  constructor(message: string, code = 'conflict', fields?: ProblemField[]) {
    super(code, 409, message, fields);
  }
}

export class ConfigError extends GantryError {
  constructor(message: string) {
    super('config_invalid', 500, message);
  }
}

/**
 * An upstream system (a registry, a webhook) failed or did not answer: not the client's mistake, and not
 * a bug in Gantry either, so 502 (bad or no answer) or 504 (timed out) rather than 500.
 */
export class UpstreamError extends GantryError {
  constructor(message: string, code = 'upstream_unavailable', status: 502 | 504 = 502) {
    super(code, status, message);
  }
}
