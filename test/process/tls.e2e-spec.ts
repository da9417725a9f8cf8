import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getDataSourceToken } from '@nestjs/typeorm';
import { X509Certificate } from 'node:crypto';
import { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { createOrganization, createUser } from '../factories/organizations';
import { TEST_ENV, withEnv } from '../setup/create-test-app';
import { cyberAppAuth, envelope, responseType } from '../setup/protocol';
import { createTestDatabase, TestDatabase } from '../setup/test-database';
import { createTlsFiles, TlsFiles } from '../setup/tls-files';

interface HttpsResult {
  status: number;
  /** SHA-256 fingerprint of the certificate the server presented. */
  peerFingerprint: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTPS request to 127.0.0.1 that trusts only `ca` (so a wrong or missing certificate fails). */
function httpsCall(port: number, ca: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<HttpsResult> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: text === undefined ? 'GET' : 'POST',
        ca,
        agent: false,
        headers: { ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      },
      (res) => {
        let received = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (received += chunk));
        const peerFingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        res.on('end', () => done({ status: res.statusCode ?? 0, peerFingerprint, headers: res.headers, body: received }));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(text);
  });
}

describe('HTTPS (TLS_CERT_FILE / TLS_KEY_FILE)', () => {
  let certFile: string;
  let keyFile: string;
  let cert: string;
  let tls: TlsFiles;

  beforeAll(async () => {
    tls = await createTlsFiles();
    ({ cert, certFile, keyFile } = tls);
  });

  afterAll(() => tls.remove());

  describe('with both files set', () => {
    let db: TestDatabase;
    let app: NestFastifyApplication;
    let port: number;

    beforeAll(async () => {
      db = await createTestDatabase();
      app = await withEnv({ ...TEST_ENV, ...db.env, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile }, () => createApp());
      await app.listen(0, '127.0.0.1');
      port = (app.getHttpServer().address() as AddressInfo).port;
    });

    afterAll(async () => {
      await app.close();
      await db.drop();
    });

    it('serves GET / over HTTPS with the configured certificate', async () => {
      const res = await httpsCall(port, cert, '/');
      expect(res.status).toBe(200);
      expect(res.peerFingerprint).toBe(new X509Certificate(cert).fingerprint256);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.body).toBe('Hello there! Send POST requests to the /callback endpoint.');
    });

    it('answers an authenticated enablement.read callback over HTTPS', async () => {
      const ds = app.get<DataSource>(getDataSourceToken());
      const org = await createOrganization(ds);
      const user = await createUser(ds, { organizationId: org.id, password: 'tls-password' });

      const res = await httpsCall(port, cert, '/callback', { 'x-cyberapp-auth': cyberAppAuth(user.login, 'tls-password') }, envelope('enablement.read'));
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({
        type: responseType('a.p.enablement.read.ok.v1.0'),
        payload: { vendor_tenant_id: org.id },
      });
    });
  });

  it.each([
    ['only TLS_CERT_FILE', () => ({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: undefined })],
    ['only TLS_KEY_FILE', () => ({ TLS_CERT_FILE: undefined, TLS_KEY_FILE: keyFile })],
  ])('refuses to boot with %s set, naming both variables', async (_case, tlsEnv) => {
    const db = await createTestDatabase();
    try {
      await expect(withEnv({ ...TEST_ENV, ...db.env, ...tlsEnv() }, () => createApp())).rejects.toThrow(
        /TLS_CERT_FILE and TLS_KEY_FILE must be set together/,
      );
    } finally {
      await db.drop();
    }
  });
});
