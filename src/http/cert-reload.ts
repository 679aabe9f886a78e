// Renewed TLS files without a restart: the server's certificate, key and client CA are watched
// (file-system events on their directories, plus a periodic stat for file systems that send none) and a
// changed set is loaded and validated like at start, then installed with setSecureContext, so new
// connections get it while open ones carry on. A set that does not load (a certificate whose key has
// not been written yet, a broken file) and still fails at the next look is logged, and the running
// certificate is kept.
import { X509Certificate } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { type HttpsOptions, loadHttpsOptions, type TlsFiles } from '../core/config.js';
import type { Logger } from '../core/logger.js';

export interface CertificateReloaderOptions {
  files: TlsFiles;
  /** The HTTPS server (Node's tls.Server has setSecureContext). */
  server: { setSecureContext(options: SecureContextOptions): void };
  logger: Pick<Logger, 'info' | 'error' | 'warn'>;
  /** The periodic stat, in ms (GANTRY_TLS_RELOAD_SECONDS). */
  pollMs: number;
  /** Also react to file-system events (default true; tests turn it off to exercise the poll alone). */
  watch?: boolean;
  /** Events come in bursts (a renewal writes two or three files): wait this long after the last one. */
  debounceMs?: number;
}

/** What identifies one version of a file: inode, size and mtime (of the target, through symlinks). */
async function signatureOf(files: string[]): Promise<string> {
  const parts = await Promise.all(
    files.map((f) =>
      stat(f).then(
        (s) => `${s.ino}:${s.size}:${s.mtimeMs}`,
        (err: NodeJS.ErrnoException) => `missing:${err.code ?? ''}`,
      ),
    ),
  );
  return parts.join('|');
}

/** Serial, SHA-256 fingerprint and expiry of the first certificate of a PEM chain, for log lines. */
export function describeCertificate(pem: Buffer | string): { serial: string; fingerprint: string; notAfter: string } {
  const c = new X509Certificate(pem);
  return { serial: c.serialNumber, fingerprint: c.fingerprint256, notAfter: new Date(c.validTo).toISOString() };
}

export class CertificateReloader {
  private readonly files: string[];
  private signature = '';
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;
  private stopped = false;
  /** Files that failed to load once: logged as refused when they fail again unchanged. */
  private refusedOnce = '';
  /** Reloads installed since start (for tests and logs). */
  reloads = 0;

  constructor(private readonly o: CertificateReloaderOptions) {
    this.files = [o.files.certFile, o.files.keyFile, ...(o.files.clientCaFile ? [o.files.clientCaFile] : [])];
  }

  /** Records the files as they are now (the server was started with them) and starts watching. */
  async start(): Promise<void> {
    this.signature = await signatureOf(this.files);
    if (this.o.watch !== false) {
      for (const dir of new Set(this.files.map((f) => path.dirname(f)))) {
        try {
          // Any event in the directory: renewals often replace a file by rename or swap a symlink (..data).
          const w = watch(dir, { persistent: false }, () => this.soon());
          w.on('error', (err) =>
            this.o.logger.warn({ dir, err: err.message }, 'watching the TLS files failed; the periodic check goes on'),
          );
          this.watchers.push(w);
        } catch (err) {
          this.o.logger.warn({ dir, err: (err as Error).message }, 'cannot watch the TLS files; relying on the periodic check');
        }
      }
    }
    this.timer = setInterval(() => void this.check(), this.o.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  private soon(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), this.o.debounceMs ?? 250);
    this.debounce.unref();
  }

  /** Reloads when any file changed since the last look; true when a new certificate was installed. */
  check(): Promise<boolean> {
    this.running ??= this.reloadIfChanged().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async reloadIfChanged(): Promise<boolean> {
    const now = await signatureOf(this.files);
    if (now === this.signature || this.stopped) return false;
    let next: HttpsOptions | undefined;
    let refused: Error | undefined;
    try {
      next = loadHttpsOptions(this.o.files);
    } catch (err) {
      refused = err as Error;
    }
    // Files still being written (the key replaced, the certificate not yet): what was read may mix two
    // versions. Nothing is installed or logged; the next event or poll looks again at the settled files.
    if ((await signatureOf(this.files)) !== now) return false;
    if (!next && this.refusedOnce !== now) {
      // Maybe caught between a truncate and a write (files written in place): refused only when the same
      // files fail again at the next look.
      this.refusedOnce = now;
      return false;
    }
    // Remembered even when the new files are refused: the error is logged once per change, not per poll.
    this.signature = now;
    this.refusedOnce = '';
    if (!next) {
      this.o.logger.error(
        { err: refused?.message },
        'the renewed TLS files were refused; still serving the previous certificate (fix the files: they are loaded again when they change)',
      );
      return false;
    }
    try {
      this.o.server.setSecureContext({ cert: next.cert, key: next.key, ...(next.ca ? { ca: next.ca } : {}) });
    } catch (err) {
      this.o.logger.error({ err: (err as Error).message }, 'installing the renewed TLS certificate failed; still serving the previous one');
      return false;
    }
    this.reloads++;
    this.o.logger.info({ certificate: describeCertificate(next.cert), file: this.o.files.certFile }, 'TLS certificate reloaded');
    return true;
  }
}
