import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsFiles {
  /** The directory holding both files (for paths of files that do not exist). */
  dir: string;
  /** The certificate (PEM), to trust it as a CA. */
  cert: string;
  certFile: string;
  keyFile: string;
  remove(): void;
}

/** A self-signed server certificate for localhost and 127.0.0.1 and its key (PEM: `cert`, `private`). */
export function selfSignedPems(): ReturnType<typeof generate> {
  return generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
}

/** selfSignedPems() written to a temporary directory. */
export async function createTlsFiles(): Promise<TlsFiles> {
  const pems = await selfSignedPems();
  const dir = mkdtempSync(join(tmpdir(), 'gateway-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, pems.cert);
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  return { dir, cert: pems.cert, certFile, keyFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
