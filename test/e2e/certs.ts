// Test certificates made with openssl in a temp dir: a private CA and leaf certificates it signs (server
// certificates with subjectAltNames, agents' client certificates). Every leaf gets a fresh serial.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface TestCa {
  dir: string;
  /** The CA certificate (PEM file). */
  ca: string;
  caKey: string;
  /** Issues NAME.pem and NAME-key.pem signed by the CA; ext is an openssl extension file's content. */
  leaf(name: string, cn: string, ext: string): Promise<{ cert: string; key: string }>;
}

export function makeCa(dir: string, cn = 'Gantry test CA'): TestCa {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '2', '-subj', `/CN=${cn}`);
  return {
    dir,
    ca: f('ca.pem'),
    caKey: f('ca-key.pem'),
    async leaf(name, leafCn, ext) {
      await writeFile(f(`${name}.ext`), ext);
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}-key.pem`), '-out', f(`${name}.csr`), '-subj', `/CN=${leafCn}`);
      // -CAcreateserial: a serial file beside the CA, incremented for each leaf.
      ssl(
        'x509',
        '-req',
        '-in',
        f(`${name}.csr`),
        '-CA',
        f('ca.pem'),
        '-CAkey',
        f('ca-key.pem'),
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        f(`${name}.ext`),
        '-out',
        f(`${name}.pem`),
      );
      return { cert: f(`${name}.pem`), key: f(`${name}-key.pem`) };
    },
  };
}

export const SERVER_EXT = (...altNames: string[]) =>
  `subjectAltName=${(altNames.length ? altNames : ['IP:127.0.0.1']).join(',')}\nextendedKeyUsage=serverAuth\n`;
export const CLIENT_EXT = 'extendedKeyUsage=clientAuth\n';
