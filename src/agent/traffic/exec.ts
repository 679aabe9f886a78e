// A third-party traffic router as a program (a plugin for a proxy Gantry does not know): for each call it
// runs `command` with {"action","route","split"} as JSON on stdin and reads one JSON answer on stdout,
// {"ok":true} or, for distribution, {"distribution":{"a":90,"b":10}}; {"ok":false,"error":"…"} or a
// non-zero exit is a failure. Bounded in time and in output, so a stuck or chatty program cannot hold
// the agent.
import { spawn } from 'node:child_process';
import type { TrafficRouterConfig, TrafficSplit } from '../../protocol/traffic.js';
import { checkRouterCommand } from '../command-policy.js';
import { type TrafficRouter, TrafficRouterError } from './types.js';

export type ExecAction = 'configure' | 'shift' | 'distribution' | 'validate' | 'reload';

export interface ExecLimits {
  timeoutMs: number;
  maxOutputBytes: number;
}

const DEFAULT_LIMITS: ExecLimits = { timeoutMs: 30_000, maxOutputBytes: 1 << 20 };
const STDERR_TAIL = 2_000;

export class ExecTrafficRouter implements TrafficRouter {
  readonly type = 'exec';
  private readonly command: string[];
  private readonly limits: ExecLimits;

  constructor(
    private readonly cfg: TrafficRouterConfig,
    limits: Partial<ExecLimits> = {},
  ) {
    if (!cfg.command?.length)
      throw new TrafficRouterError(`exec traffic router for route ${cfg.route}: set command, the router program and its arguments`);
    this.command = cfg.command;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  async configure(split: TrafficSplit): Promise<void> {
    await this.call('configure', split);
  }

  async shift(split: TrafficSplit): Promise<void> {
    await this.call('shift', split);
  }

  async distribution(): Promise<Record<string, number>> {
    const answer = await this.call('distribution');
    const d = answer.distribution;
    if (!d || typeof d !== 'object' || Object.values(d).some((w) => typeof w !== 'number' || !Number.isFinite(w))) {
      throw new TrafficRouterError(`${this.what('distribution')} answered no {"distribution":{"<variation>":<percent>,…}}`);
    }
    return d as Record<string, number>;
  }

  async validate(): Promise<void> {
    await this.call('validate');
  }

  async reload(): Promise<void> {
    await this.call('reload');
  }

  private what(action: ExecAction): string {
    return `traffic router program ${this.command.join(' ')} (${action}, route ${this.cfg.route})`;
  }

  private call(action: ExecAction, split?: TrafficSplit): Promise<{ ok?: unknown; error?: unknown; distribution?: unknown }> {
    const [cmd, ...args] = this.command;
    const what = this.what(action);
    const { timeoutMs, maxOutputBytes } = this.limits;
    try {
      checkRouterCommand(this.command, what, true);
    } catch (err) {
      return Promise.reject(new TrafficRouterError((err as Error).message));
    }
    return new Promise((resolve, reject) => {
      const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let outSize = 0;
      let errTail = '';
      let failure: string | null = null;
      const stop = (why: string) => {
        failure ??= why;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => stop(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        outSize += d.length;
        if (outSize > maxOutputBytes) return stop(`more than ${maxOutputBytes} bytes on stdout`);
        out.push(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        errTail = (errTail + d.toString('utf8')).slice(-STDERR_TAIL);
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new TrafficRouterError(`${what} could not start: ${err.message}; check the command's path and that it is executable`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = errTail.trim() ? `; stderr: ${errTail.trim()}` : '';
        if (failure) return reject(new TrafficRouterError(`${what} was stopped: ${failure}${stderr}`));
        if (code !== 0) return reject(new TrafficRouterError(`${what} exited with ${code ?? signal}${stderr}`));
        let answer: { ok?: unknown; error?: unknown; distribution?: unknown };
        try {
          answer = JSON.parse(Buffer.concat(out).toString('utf8'));
        } catch {
          return reject(new TrafficRouterError(`${what} answered no JSON on stdout (expected {"ok":true})${stderr}`));
        }
        if (answer === null || typeof answer !== 'object') return reject(new TrafficRouterError(`${what} answered no JSON object`));
        if (answer.ok === false) {
          return reject(
            new TrafficRouterError(`${what} failed: ${typeof answer.error === 'string' ? answer.error : 'no error given'}${stderr}`),
          );
        }
        if (answer.ok !== true && answer.distribution === undefined) {
          return reject(new TrafficRouterError(`${what} answered neither {"ok":true} nor a distribution`));
        }
        resolve(answer);
      });
      // a program that does not read its input must not fail the call with EPIPE
      child.stdin.on('error', () => {});
      child.stdin.end(JSON.stringify({ action, route: this.cfg.route, ...(split ? { split } : {}) }));
    });
  }
}
