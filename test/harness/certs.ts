// Certificates for a throwaway cluster, made with the openssl CLI: a CA, the
// apiserver's serving certificate, client certificates (CN = user, O = groups)
// and the service-account signing key pair.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the openssl CLI is required by the test bed; install openssl');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

export interface CertPair {
  cert: string;
  key: string;
}

export interface CertAuthority extends CertPair {
  dir: string;
}

const days = '7';
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createCA(dir: string): Promise<CertAuthority> {
  const ca = { dir, cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await openssl([
    'req', '-x509', ...ecKey, '-keyout', ca.key, '-out', ca.cert, '-days', days,
    '-subj', '/CN=osfleet-testbed-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return ca;
}

function subject(cn: string, orgs: readonly string[]): string {
  const esc = (s: string) => s.replace(/[/\\=+,]/g, (c) => `\\${c}`);
  return `/CN=${esc(cn)}${orgs.map((o) => `/O=${esc(o)}`).join('')}`;
}

/** A leaf certificate signed by `ca`, written as `<dir>/<base>.crt` and `.key`. */
export async function issue(
  ca: CertAuthority,
  dir: string,
  base: string,
  opts: { cn: string; orgs?: readonly string[]; serverNames?: readonly string[]; serverIPs?: readonly string[] },
): Promise<CertPair> {
  const pair = { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) };
  const isServer = (opts.serverNames?.length ?? 0) + (opts.serverIPs?.length ?? 0) > 0;
  const ext = [
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext', `extendedKeyUsage=${isServer ? 'serverAuth' : 'clientAuth'}`,
  ];
  if (isServer) {
    const san = [...(opts.serverNames ?? []).map((n) => `DNS:${n}`), ...(opts.serverIPs ?? []).map((ip) => `IP:${ip}`)];
    ext.push('-addext', `subjectAltName=${san.join(',')}`);
  }
  // OpenSSL 3 `req -x509 -CA` signs with the CA in one step and keeps -addext extensions.
  await openssl([
    'req', '-x509', ...ecKey, '-keyout', pair.key, '-out', pair.cert, '-days', days,
    '-CA', ca.cert, '-CAkey', ca.key,
    '-subj', subject(opts.cn, opts.orgs ?? []),
    ...ext,
  ]);
  return pair;
}

/** The key pair the apiserver signs service-account tokens with (ES256). */
export async function createServiceAccountKeys(dir: string): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = join(dir, 'sa.key');
  const publicKey = join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', privateKey]);
  await openssl(['pkey', '-in', privateKey, '-pubout', '-out', publicKey]);
  return { privateKey, publicKey };
}
