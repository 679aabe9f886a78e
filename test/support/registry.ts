// A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1 with
// filesystem storage in a temp dir, plain or with htpasswd basic auth; images built from busybox-static
// as OCI layouts and pushed with skopeo; digests read back from the registry itself.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { freePort } from './ports.js';

const run = promisify(execFile);

export const REGISTRY_BIN = '/usr/bin/docker-registry';
const TOOLS = [REGISTRY_BIN, '/usr/bin/skopeo', '/bin/busybox', '/usr/bin/htpasswd'];

/**
 * Whether the real registry tools are installed. Under CI=true a missing tool is an error (CI must
 * install them: .ci/run); elsewhere tests skip with this message.
 */
export function registryToolsMissing(): string | undefined {
  const missing = TOOLS.filter((t) => !existsSync(t));
  if (missing.length === 0) return undefined;
  const msg = `real-registry tests need ${missing.join(', ')} (apt-get install -y docker-registry skopeo busybox-static apache2-utils)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return msg;
}

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface TestRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, the registry part of an image reference */
  host: string;
  auth: { username: string; password: string } | undefined;
  dir: string;
  stop(): Promise<void>;
}

export async function startRegistry(auth?: { username: string; password: string }): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-registry-'));
  const port = await freePort();
  let authYaml = '';
  if (auth) {
    const { stdout } = await run('htpasswd', ['-Bbn', auth.username, auth.password]);
    await writeFile(path.join(dir, 'htpasswd'), stdout);
    authYaml = `auth:\n  htpasswd:\n    realm: gantry-test\n    path: ${dir}/htpasswd\n`;
  }
  await writeFile(
    path.join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authYaml}`,
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      // 401 is an answer too: the auth registry is up and demanding credentials.
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer at ${url}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    auth,
    dir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Builds an OCI image layout of a busybox rootfs carrying `content` in /VERSION (so each version has
 * its own digest) and pushes it as repo:tag with skopeo.
 */
export async function pushImage(reg: TestRegistry, repo: string, tag: string, content = tag): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'gantry-image-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    await mkdir(path.join(rootfs, 'bin'), { recursive: true });
    await copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
    await symlink('busybox', path.join(rootfs, 'bin', 'sh'));
    await writeFile(path.join(rootfs, 'VERSION'), `${content}\n`);
    const layerFile = path.join(work, 'layer.tar.gz');
    await run('tar', ['-C', rootfs, '--mtime=@0', '--owner=0', '--group=0', '-czf', layerFile, '.']);
    const layer = await readFile(layerFile);
    const blobs = path.join(work, 'oci', 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(gunzipSync(layer))}`] },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha256(layer)}`, size: layer.length }],
      }),
    );
    for (const b of [layer, config, manifest]) await writeFile(path.join(blobs, sha256(b)), b);
    await writeFile(path.join(work, 'oci', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      path.join(work, 'oci', 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${sha256(manifest)}`,
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    const creds = reg.auth ? ['--dest-creds', `${reg.auth.username}:${reg.auth.password}`] : [];
    await run('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      ...creds,
      `oci:${path.join(work, 'oci')}:${tag}`,
      `docker://${reg.host}/${repo}:${tag}`,
    ]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function authHeaders(reg: TestRegistry): Record<string, string> {
  return reg.auth ? { authorization: `Basic ${Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64')}` } : {};
}

/** The digest the registry itself reports for repo:ref (HEAD with the manifest Accept types). */
export async function registryDigest(reg: TestRegistry, repo: string, ref: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    method: 'HEAD',
    headers: { accept: MANIFEST_ACCEPT, ...authHeaders(reg) },
  });
  const d = res.headers.get('docker-content-digest');
  if (!res.ok || !d) throw new Error(`registry HEAD ${repo}:${ref} answered ${res.status}`);
  return d;
}

/** The digest by a second, independent route: skopeo's raw manifest bytes, hashed. */
export async function skopeoDigest(reg: TestRegistry, repo: string, ref: string): Promise<string> {
  const creds = reg.auth ? ['--creds', `${reg.auth.username}:${reg.auth.password}`] : [];
  const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...creds, `docker://${reg.host}/${repo}:${ref}`], {
    encoding: 'buffer',
  });
  return `sha256:${sha256(stdout)}`;
}

/** Re-tags: PUTs the manifest currently under `fromTag` under `toTag` (same bytes, so same digest). */
export async function retag(reg: TestRegistry, repo: string, fromTag: string, toTag: string): Promise<void> {
  const got = await fetch(`${reg.url}/v2/${repo}/manifests/${fromTag}`, { headers: { accept: MANIFEST_ACCEPT, ...authHeaders(reg) } });
  if (!got.ok) throw new Error(`GET manifest ${repo}:${fromTag} answered ${got.status}`);
  const type = got.headers.get('content-type') ?? 'application/vnd.oci.image.manifest.v1+json';
  const body = Buffer.from(await got.arrayBuffer());
  await putManifest(reg, repo, toTag, body, type);
}

export async function putManifest(reg: TestRegistry, repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
  const put = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType, ...authHeaders(reg) },
    body,
  });
  if (put.status !== 201) throw new Error(`PUT manifest ${repo}:${ref} answered ${put.status}: ${await put.text()}`);
  return put.headers.get('docker-content-digest') ?? '';
}

/** Pushes an OCI image index (one entry: the manifest under `ofTag`) as repo:tag; returns the registry's digest for it. */
export async function pushIndex(reg: TestRegistry, repo: string, ofTag: string, tag: string): Promise<string> {
  const got = await fetch(`${reg.url}/v2/${repo}/manifests/${ofTag}`, { headers: { accept: MANIFEST_ACCEPT, ...authHeaders(reg) } });
  const manifest = Buffer.from(await got.arrayBuffer());
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: got.headers.get('content-type'),
          digest: `sha256:${sha256(manifest)}`,
          size: manifest.length,
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    }),
  );
  await putManifest(reg, repo, tag, index, 'application/vnd.oci.image.index.v1+json');
  return registryDigest(reg, repo, tag);
}
