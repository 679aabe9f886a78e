// A real Docker Engine for tests: Debian's dockerd with its own data-root, exec-root, pidfile and socket in a
// temp dir (--iptables=false --ip6tables=false --bridge=none; containers use the host network and bind
// 127.0.0.1), plus busybox httpd images built as OCI layouts and pushed to the test registry with skopeo.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import Docker from 'dockerode';
import type { TestRegistry } from './registry.js';

const run = promisify(execFile);
const TOOLS = ['/usr/sbin/dockerd', '/usr/bin/docker-compose', '/usr/bin/skopeo', '/bin/busybox', '/usr/bin/docker-registry'];

/** Under CI=true a missing tool is an error (.ci/run installs them); elsewhere the tests skip with this message. */
export function dockerToolsMissing(): string | undefined {
  const missing = TOOLS.filter((t) => !existsSync(t));
  if (missing.length === 0) return undefined;
  const msg = `docker e2e tests need ${missing.join(', ')} (apt-get install -y docker.io docker-compose docker-registry skopeo busybox-static)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${msg}`);
  process.stderr.write(`SKIPPED: ${msg}\n`);
  return msg;
}

export interface TestDocker {
  /** unix:///…/docker.sock */
  host: string;
  docker: Docker;
  dir: string;
  stop(): Promise<void>;
}

export async function startDockerd(): Promise<TestDocker> {
  // A short path: unix socket paths are limited to 108 bytes.
  const dir = await mkdtemp(path.join('/tmp', 'gd-'));
  const sock = path.join(dir, 'docker.sock');
  const child: ChildProcess = spawn(
    '/usr/sbin/dockerd',
    [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      `--data-root=${dir}/data`,
      `--exec-root=${dir}/exec`,
      `--pidfile=${dir}/dockerd.pid`,
      '-H',
      `unix://${sock}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const docker = new Docker({ socketPath: sock });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dockerd exited ${child.exitCode}: ${stderr}`);
    try {
      await docker.ping();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${sock}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    host: `unix://${sock}`,
    docker,
    dir,
    async stop() {
      try {
        for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true });
      } catch {
        // the engine may already be gone
      }
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Pushes a busybox image whose httpd serves /www/VERSION, a CGI health check /cgi-bin/healthz and a slow
 * path /cgi-bin/slow (VERSION after 1 s). With
 * `brokenInRegion` the health check answers 500 where the container's REGION variable equals it (a release
 * that breaks on some hosts only). /cgi-bin/app answers the VERSION line; with `failEvery` n, every n-th
 * request (counted in the container) is a 500 instead (a candidate that errs). Returns the registry's digest.
 */
export async function pushHttpdImage(
  reg: TestRegistry,
  repo: string,
  tag: string,
  opts: { brokenInRegion?: string; failEvery?: number } = {},
): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'gantry-httpd-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    await mkdir(path.join(rootfs, 'bin'), { recursive: true });
    await mkdir(path.join(rootfs, 'www'), { recursive: true });
    await copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
    for (const l of ['sh', 'httpd', 'sleep', 'cat']) await symlink('busybox', path.join(rootfs, 'bin', l));
    await writeFile(path.join(rootfs, 'www', 'VERSION'), `${repo}:${tag}\n`);
    await mkdir(path.join(rootfs, 'www', 'cgi-bin'));
    const broken = opts.brokenInRegion
      ? `if [ "$REGION" = "${opts.brokenInRegion}" ]; then printf 'HTTP/1.0 500 Internal Server Error\\r\\n\\r\\nbroken\\n'; exit 0; fi\n`
      : '';
    await writeFile(
      path.join(rootfs, 'www', 'cgi-bin', 'healthz'),
      `#!/bin/sh\n${broken}printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n`,
      { mode: 0o755 },
    );
    // A slow request (1 s) for the rollout load tests: answers with the VERSION line after sleeping.
    await writeFile(
      path.join(rootfs, 'www', 'cgi-bin', 'slow'),
      "#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat /www/VERSION\n",
      { mode: 0o755 },
    );
    await mkdir(path.join(rootfs, 'tmp'), { recursive: true });
    const fail = opts.failEvery
      ? `n=$(cat /tmp/count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /tmp/count\nif [ $((n % ${opts.failEvery})) -eq 0 ]; then printf 'HTTP/1.0 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nfailed\\n'; exit 0; fi\n`
      : '';
    await writeFile(
      path.join(rootfs, 'www', 'cgi-bin', 'app'),
      `#!/bin/sh\n${fail}printf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat /www/VERSION\n`,
      {
        mode: 0o755,
      },
    );
    const layerFile = path.join(work, 'layer.tar.gz');
    await run('tar', ['-C', rootfs, '--mtime=@0', '--owner=0', '--group=0', '-czf', layerFile, '.']);
    const layer = await readFile(layerFile);
    const blobs = path.join(work, 'oci', 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/www'] },
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
    await run('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${path.join(work, 'oci')}:${tag}`,
      `docker://${reg.host}/${repo}:${tag}`,
    ]);
    return `sha256:${sha256(manifest)}`;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Containers Gantry manages on an engine (label gantry.managed), by name. */
export async function managedContainers(docker: Docker) {
  const list = await docker.listContainers({ all: true });
  return list.map((c) => ({ name: c.Names[0]!.replace(/^\//, ''), image: c.Image, state: c.State, labels: c.Labels }));
}

/** The digest a container runs, read through the engine API: its image's RepoDigests for the repository. */
export async function runningDigest(docker: Docker, container: string, repo: string): Promise<string | null> {
  const c = await docker.getContainer(container).inspect();
  const img = await docker.getImage(c.Image).inspect();
  const d = (img.RepoDigests ?? []).find((x) => x.startsWith(`${repo}@`));
  return d ? d.slice(repo.length + 1) : null;
}
