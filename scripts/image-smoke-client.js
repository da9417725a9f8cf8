#!/usr/bin/env node
// The HTTP side of scripts/image-smoke.sh, run on the host against the container (host network).
//
//   node scripts/image-smoke-client.js <gateway port> <issuer> [ready timeout s, default 120]
//
// Plays the platform: serves a JWKS on 127.0.0.1 (prints `JWKS_URL=…` first, for the gateway's
// CALLBACK_JWT_JWKS_URL), waits for GET /health/ready to answer 200, then sends callbacks as
// the API Callback Gateway does (README, postman/: `X-CyberApp-Auth` is base64 of
// `<login>:{"password":"…"}`, `Authorization: Bearer <RS256 JWT>` whose scope names the
// endpoint) as the seeded root user (root / password). Exit 0 when every check passed.
'use strict';
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const { exportJWK, generateKeyPair, SignJWT } = require('jose');

const [portArg, issuer, timeoutArg] = process.argv.slice(2);
const port = Number(portArg);
if (!port || !issuer) {
  console.error('usage: image-smoke-client.js <gateway port> <issuer> [ready timeout s]');
  process.exit(2);
}
const readyTimeoutMs = Number(timeoutArg ?? 120) * 1000;
const APP_CODE = process.env.APP_CODE ?? 'vendor.app';
const ENDPOINT_ID = `cti.a.p.acgw.endpoint.v1.0~${APP_CODE}.endpoint.v1.0`;

/** One HTTP request to the gateway; resolves with the status and the parsed JSON body (or text). */
function call(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        timeout: 10_000,
        headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode, body: json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

function enablementRead() {
  return {
    type: 'cti.a.p.acgw.request.v1.0~a.p.empty.v1.0',
    request_id: randomUUID(),
    created_at: new Date().toISOString(),
    context: {
      callback_id: 'cti.a.p.acgw.callback.v1.0~a.p.enablement.read.v1.0',
      endpoint_id: ENDPOINT_ID,
      tenant_id: randomUUID(),
      datacenter_url: 'https://eu8-cloud.acronis.com',
    },
  };
}

const cyberAppAuth = (login, password) => Buffer.from(`${login}:${JSON.stringify({ password })}`).toString('base64');

let failures = 0;
function check(name, ok, detail) {
  console.log(`image-smoke: ${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: ${detail}`}`);
  if (!ok) failures += 1;
}

async function main() {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'image-smoke', alg: 'RS256', use: 'sig' };
  const jwks = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  console.log(`JWKS_URL=http://127.0.0.1:${jwks.address().port}/keys`);

  const deadline = Date.now() + readyTimeoutMs;
  let ready;
  while (Date.now() < deadline) {
    ready = await call('GET', '/health/ready').catch((error) => ({ status: 0, body: String(error) }));
    if (ready.status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  check('GET /health/ready answers 200', ready?.status === 200, JSON.stringify(ready));
  if (ready?.status !== 200) return;

  const token = await new SignJWT({ scope: [{ role: ENDPOINT_ID }] })
    .setProtectedHeader({ alg: 'RS256', kid: 'image-smoke' })
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
  const bearer = { authorization: `Bearer ${token}` };

  const ok = await call('POST', '/callback', { ...bearer, 'x-cyberapp-auth': cyberAppAuth('root', 'password') }, enablementRead());
  check(
    'enablement.read as the seeded root user, with the platform JWT: 200',
    ok.status === 200 &&
      ok.body?.type === 'cti.a.p.acgw.response.v1.0~a.p.enablement.read.ok.v1.0' &&
      typeof ok.body?.payload?.vendor_tenant_id === 'string',
    JSON.stringify(ok),
  );

  const wrong = await call('POST', '/callback', { ...bearer, 'x-cyberapp-auth': cyberAppAuth('root', 'not-the-password') }, enablementRead());
  check('a wrong password: 401 UNAUTHENTICATED', wrong.status === 401 && wrong.body?.code === 'UNAUTHENTICATED', JSON.stringify(wrong));

  const noJwt = await call('POST', '/callback', { 'x-cyberapp-auth': cyberAppAuth('root', 'password') }, enablementRead());
  check('no platform JWT (required under NODE_ENV=production): 401', noJwt.status === 401 && noJwt.body?.code === 'UNAUTHENTICATED', JSON.stringify(noJwt));

  jwks.close();
}

main()
  .catch((error) => {
    console.error(error);
    failures += 1;
  })
  .finally(() => process.exit(failures === 0 ? 0 : 1));
