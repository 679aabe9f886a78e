// Reading configuration files: every problem is named as file:line:column and field, all at once.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigFileError, hashFiles, parseConfigFiles } from './apply-load.js';

const problems = (text: string): string[] => {
  try {
    parseConfigFiles([{ path: 'conf/x.yaml', text }]);
  } catch (err) {
    if (err instanceof ConfigFileError) return err.problems;
    throw err;
  }
  return [];
};

describe('parseConfigFiles', () => {
  it('reads several documents, filling nothing the file does not say', () => {
    const rs = parseConfigFiles([
      {
        path: 'a.yaml',
        text: '# yaml-language-server: $schema=x\napiVersion: gantry/v1\nkind: Environment\nmetadata: { name: dev }\n---\napiVersion: gantry/v1\nkind: NotificationChannel\nmetadata: { name: chat }\nspec: { url: "https://chat.example.com/h" }\n---\n',
      },
    ]);
    expect(rs.map((r) => [r.kind, r.name, r.spec, r.source])).toEqual([
      ['Environment', 'dev', {}, 'a.yaml:2:1'],
      ['NotificationChannel', 'chat', { url: 'https://chat.example.com/h' }, 'a.yaml:6:1'],
    ]);
  });

  it('names file, line, column and field of each problem', () => {
    const text = [
      'apiVersion: gantry/v1', // 1
      'kind: Target', // 2
      'metadata: { name: web-1 }', // 3
      'spec:', // 4
      '  environment: prod', // 5
      '  targetType: docker_host', // 6
      '  connection:', // 7
      '    dockerHost: 42', // 8
      '    tlsVerify: true', // 9
      '---',
      'apiVersion: gantry/v1', // 11
      'kind: Integration', // 12
      'metadata: { name: hub }', // 13
      'spec:', // 14
      '  typeId: oci_registry', // 15
      '  config: { url: "https://hub.example.com", auth: { apiKey: abc } }', // 16
      '  credentialRef: hunter2', // 17
      '---',
      'apiVersion: gantry/v2', // 19
      'kind: Environment',
      '---',
      'apiVersion: gantry/v1', // 22
      'kind: Component', // 23
      'metadata: { name: api }', // 24
      'spec: {}', // 25
      '---',
      'apiVersion: gantry/v1', // 27
      'kind: Environment',
      'metadata: { name: prod, labels: {} }', // 29
    ].join('\n');
    expect(problems(text)).toEqual([
      'conf/x.yaml:8:17: spec.connection.dockerHost: Invalid input: expected string, received number',
      'conf/x.yaml:9:5: spec.connection.tlsVerify: unknown field',
      'conf/x.yaml:16:61: spec.config.auth.apiKey: looks like a secret; reference it with credentialRef (secret:NAME or env:NAME) instead',
      'conf/x.yaml:17:18: spec.credentialRef: must be "secret:<name>", "env:NAME" (NAME in A-Z, 0-9, _), "file:/absolute/path" or "vault:<integration-name>/<path>#<key>"',
      'conf/x.yaml:19:13: apiVersion: must be "gantry/v1"',
      'conf/x.yaml:25:7: spec.imageRepository: required',
      'conf/x.yaml:29:25: metadata.labels: unknown field',
    ]);
  });

  it('refuses a name declared twice, and YAML syntax errors, with their positions', () => {
    const doc = 'apiVersion: gantry/v1\nkind: Integration\nmetadata: { name: hub }\nspec: { typeId: oci_registry }\n';
    const chan = 'apiVersion: gantry/v1\nkind: NotificationChannel\nmetadata: { name: hub }\nspec: { url: "https://x.example.com" }\n';
    expect(problems(`${doc}---\n${chan}`)).toEqual([
      'conf/x.yaml:8:19: metadata.name: NotificationChannel "hub" is declared twice (first at conf/x.yaml:1:1)',
    ]);
    expect(problems('a: [1, 2\n')[0]).toMatch(/^conf\/x\.yaml:\d+:\d+: /);
  });

  it('hashes one file as sha256sum does, several by their sha256sum listing', () => {
    const x = '73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac';
    const y = '3bb2abb69ebb27fbfe63c7639624c6ec5e331b841a5bc8c3ebc10b9285e90877';
    expect(hashFiles([{ path: 'a.yaml', text: 'x\n' }]).sha256).toBe(x);
    const two = hashFiles([
      { path: 'a.yaml', text: 'x\n' },
      { path: 'b.yaml', text: 'y\n' },
    ]);
    expect(two.files).toEqual([
      { path: 'a.yaml', sha256: x },
      { path: 'b.yaml', sha256: y },
    ]);
    expect(two.sha256).toBe(createHash('sha256').update(`${x}  a.yaml\n${y}  b.yaml\n`).digest('hex'));
  });
});
