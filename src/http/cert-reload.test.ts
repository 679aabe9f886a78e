// CertificateReloader on a real HTTPS server with openssl-made certificates: a renewed pair written over
// the files is served to new connections (seen as the peer certificate's serial), by the periodic check
// alone when file-system events are off; a pair that does not match is refused, logged, and the previous
// certificate kept; the next good pair is then taken. (The whole server process: test/e2e/agent-network.test.ts.)
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, SERVER_EXT, type TestCa } from '../../test/e2e/certs.js';
import { loadHttpsOptions } from '../core/config.js';
import { CertificateReloader } from './cert-reload.js';

let dir: string;
let ca: TestCa;
let caPem: string;
let server: https.Server;
let port: number;
const files = () => ({ certFile: path.join(dir, 'live.pem'), keyFile: path.join(dir, 'live-key.pem'), clientCaFile: undefined });

/** The serial of the certificate a new connection is given. */
const servedSerial = () =>
  new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: caPem }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.once('error', reject);
  });

const serialOf = async (pemFile: string) => new (await import('node:crypto')).X509Certificate(await readFile(pemFile)).serialNumber;

async function install(leaf: { cert: string; key: string }): Promise<void> {
  await copyFile(leaf.key, files().keyFile);
  await copyFile(leaf.cert, files().certFile);
}

function logs() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } as never };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-cert-reload-'));
  ca = makeCa(dir);
  caPem = await readFile(ca.ca, 'utf8');
  await install(await ca.leaf('first', '127.0.0.1', SERVER_EXT('IP:127.0.0.1')));
  const opts = loadHttpsOptions(files());
  server = https.createServer(opts, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('CertificateReloader', () => {
  it('serves a renewed certificate to new connections; a mismatched pair is refused and the old one kept', async () => {
    const log = logs();
    const reloader = new CertificateReloader({ files: files(), server, logger: log.logger, pollMs: 200, watch: false });
    await reloader.start();
    try {
      const first = await servedSerial();
      expect(first).toBe(await serialOf(files().certFile));

      const renewed = await ca.leaf('second', '127.0.0.1', SERVER_EXT('IP:127.0.0.1'));
      const renewedSerial = await serialOf(renewed.cert);
      expect(renewedSerial).not.toBe(first);
      await install(renewed);
      const deadline = Date.now() + 5000;
      while ((await servedSerial()) !== renewedSerial && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await servedSerial()).toBe(renewedSerial);
      expect(reloader.reloads).toBe(1);
      expect(log.lines.find((l) => l.msg === 'TLS certificate reloaded')?.obj).toMatchObject({ certificate: { serial: renewedSerial } });

      // A certificate written without its key: refused, logged once, the renewed one still served.
      const third = await ca.leaf('third', '127.0.0.1', SERVER_EXT('IP:127.0.0.1'));
      const before = log.lines.length;
      await copyFile(third.cert, files().certFile);
      const noticed = Date.now() + 5000;
      while (!log.lines.slice(before).some((l) => l.level === 'error') && Date.now() < noticed)
        await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 600)); // three more polls: the refusal is not logged again
      expect(await servedSerial()).toBe(renewedSerial);
      const refused = log.lines.slice(before).filter((l) => l.level === 'error');
      expect(refused).toHaveLength(1);
      expect(String(refused[0]!.obj.err)).toContain('not a usable PEM pair');
      expect(refused[0]!.msg).toContain('still serving the previous certificate');

      // Its key arrives: now it is taken.
      await copyFile(third.key, files().keyFile);
      const thirdSerial = await serialOf(third.cert);
      const until = Date.now() + 5000;
      while ((await servedSerial()) !== thirdSerial && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(await servedSerial()).toBe(thirdSerial);
      expect(reloader.reloads).toBe(2);
    } finally {
      reloader.stop();
    }
  });

  it('file-system events alone pick up a renewal well before the periodic check', async () => {
    const log = logs();
    const reloader = new CertificateReloader({ files: files(), server, logger: log.logger, pollMs: 60_000 });
    await reloader.start();
    try {
      const next = await ca.leaf('fourth', '127.0.0.1', SERVER_EXT('IP:127.0.0.1'));
      const serial = await serialOf(next.cert);
      const t0 = Date.now();
      await install(next);
      while ((await servedSerial()) !== serial && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      expect(await servedSerial()).toBe(serial);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      reloader.stop();
    }
  });
});
