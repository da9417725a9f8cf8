import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, JWK, JWTPayload, KeyLike, SignJWT, UnsecuredJWT } from 'jose';
import request from 'supertest';
import { authConfig } from '../src/config/auth.config';
import { createTree, Tree } from './factories/organizations';
import { createTestApp, TestApp, withEnv } from './setup/create-test-app';
import { cyberAppAuth, ENDPOINT_ID, ENDPOINT_ID_V1_1, envelope, responseType } from './setup/protocol';

/** Another vendor's CyberApp: the platform mints its tokens with the same keys and issuer. */
const OTHER_ENDPOINT_ID = 'cti.a.p.acgw.endpoint.v1.0~other.app.endpoint.v1.0';
const OTHER_ENDPOINT_ID_V1_1 = 'cti.a.p.acgw.endpoint.v1.1~other.app.mirroring.endpoint.v1.1';
const AUTH_FAILED = 'Failed to authenticate user.';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type JwksBehaviour = 'serve' | 'fail' | 'garbage' | 'not-a-jwks' | 'hang';

/** A stand-in for the Acronis IdP's `/api/idp/v1/keys`: a real HTTP server on 127.0.0.1. */
class FakeJwksServer {
  keys: JWK[] = [];
  behaviour: JwksBehaviour = 'serve';
  fetches = 0;
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => {
      if (req.url !== '/keys') return void res.writeHead(404).end();
      this.fetches += 1;
      switch (this.behaviour) {
        case 'serve':
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
        case 'fail':
          return void res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream exploded');
        case 'garbage':
          return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
        case 'not-a-jwks':
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'maintenance' }));
        case 'hang':
          return; // accepts the request and never answers
      }
    });
  }

  static async start(): Promise<FakeJwksServer> {
    const fake = new FakeJwksServer();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/keys`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }
}

interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  publicKey: KeyLike;
  /** The public key as the JWKS publishes it. */
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The platform's claims (docs/protocols.md) for this CyberApp's endpoint; `undefined` drops a claim. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  return {
    aud: 'acronis.cloud',
    exp: nowSeconds() + 600,
    iss: 'https://acronis.cloud',
    sub: randomUUID(),
    scope: [{ role: ENDPOINT_ID }],
    ver: 2,
    sub_type: 'platform-acgw',
    ...overrides,
  };
}

function sign(payload: JWTPayload, key: SigningKey): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

/** Flips one character in the middle of the signature (the last one may only carry padding bits). */
function corruptSignature(token: string): string {
  const [header, payload, signature] = token.split('.');
  const i = Math.floor(signature.length / 2);
  const flipped = signature[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, i)}${flipped}${signature.slice(i + 1)}`;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function mappingRows(t: TestApp): Promise<unknown[]> {
  return t.dataSource.query('SELECT * FROM organizations_mapping ORDER BY organization_id');
}

/** The protocol's 401 error envelope, answering the request with the given id. */
function expectUnauthenticated(res: request.Response, requestId: unknown): void {
  expect(res.status).toBe(401);
  expect(res.body).toEqual({
    request_id: requestId,
    response_id: expect.stringMatching(UUID),
    err_message: AUTH_FAILED,
    message: AUTH_FAILED,
    code: 'UNAUTHENTICATED',
  });
}

describe('platform JWT on POST /callback (CALLBACK_JWT=required)', () => {
  let jwks: FakeJwksServer;
  let t: TestApp;
  let tree: Tree;
  let platformKey: SigningKey;

  beforeAll(async () => {
    jwks = await FakeJwksServer.start();
    platformKey = await signingKey('platform-2024-01');
    jwks.keys = [platformKey.jwk];
    t = await createTestApp({ CALLBACK_JWT: 'required', CALLBACK_JWT_JWKS_URL: jwks.url });
    tree = await createTree(t.dataSource);
  });
  afterAll(async () => {
    await t.close();
    await jwks.close();
  });
  afterEach(() => jest.restoreAllMocks());

  /** POST /callback as the platform sends it: the partner's X-CyberApp-Auth and, when given, `Authorization`. */
  function post(authorization: string | undefined, body: Record<string, unknown> = envelope('enablement.read')): request.Test {
    const req = request(t.server).post('/callback').set('X-CyberApp-Auth', cyberAppAuth(tree.partnerUser.login, tree.password));
    if (authorization !== undefined) req.set('Authorization', authorization);
    return req.send(body);
  }

  async function expectAccepted(authorization: string): Promise<void> {
    const body = envelope('enablement.read');
    const res = await post(authorization, body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ request_id: body.request_id, payload: { vendor_tenant_id: tree.partner.id } });
  }

  async function expectRejected(authorization: string | undefined, body: Record<string, unknown> = envelope('enablement.read')): Promise<void> {
    expectUnauthenticated(await post(authorization, body), body.request_id);
  }

  it('answers a callback carrying a valid token for this endpoint and valid X-CyberApp-Auth', async () => {
    await expectAccepted(`Bearer ${await sign(claims(), platformKey)}`);
  });

  it('accepts the older issuer https://cloud.acronis.com', async () => {
    await expectAccepted(`Bearer ${await sign(claims({ iss: 'https://cloud.acronis.com' }), platformKey)}`);
  });

  it('accepts a token whose scope lists this endpoint among other roles', async () => {
    const scope = [{ role: OTHER_ENDPOINT_ID }, { role: ENDPOINT_ID }];
    await expectAccepted(`Bearer ${await sign(claims({ scope }), platformKey)}`);
  });

  it('still requires X-CyberApp-Auth behind a valid token', async () => {
    const body = envelope('enablement.read');
    const res = await request(t.server)
      .post('/callback')
      .set('Authorization', `Bearer ${await sign(claims(), platformKey)}`)
      .send(body);
    expectUnauthenticated(res, body.request_id);
  });

  it('refuses a callback without an Authorization header', async () => {
    await expectRejected(undefined);
  });

  it('refuses a valid token sent under a scheme other than Bearer', async () => {
    const token = await sign(claims(), platformKey);
    await expectRejected(`Basic ${Buffer.from('partner:partner-password').toString('base64')}`);
    await expectRejected(`JWT ${token}`);
  });

  it('refuses an empty bearer', async () => {
    await expectRejected('Bearer ');
  });

  it('refuses a token whose signature was corrupted', async () => {
    await expectRejected(`Bearer ${corruptSignature(await sign(claims(), platformKey))}`);
  });

  it('refuses a token whose claims were altered after signing', async () => {
    const [header, , signature] = (await sign(claims({ scope: [{ role: OTHER_ENDPOINT_ID }] }), platformKey)).split('.');
    const forged = Buffer.from(JSON.stringify(claims())).toString('base64url');
    await expectRejected(`Bearer ${header}.${forged}.${signature}`);
  });

  it('refuses an expired token', async () => {
    // Well past the clock tolerance (30 s by default).
    await expectRejected(`Bearer ${await sign(claims({ exp: nowSeconds() - 300 }), platformKey)}`);
  });

  it('refuses a token without exp', async () => {
    await expectRejected(`Bearer ${await sign(claims({ exp: undefined }), platformKey)}`);
  });

  it("refuses a valid token minted for another CyberApp's endpoint", async () => {
    await expectRejected(`Bearer ${await sign(claims({ scope: [{ role: OTHER_ENDPOINT_ID }] }), platformKey)}`);
  });

  it("refuses another CyberApp's token replayed with the envelope's endpoint_id rewritten to match it", async () => {
    const token = await sign(claims({ scope: [{ role: OTHER_ENDPOINT_ID }] }), platformKey);
    const body = envelope('enablement.read');
    await expectRejected(`Bearer ${token}`, { ...body, context: { ...(body.context as Record<string, unknown>), endpoint_id: OTHER_ENDPOINT_ID } });
  });

  it('refuses a token without scope', async () => {
    await expectRejected(`Bearer ${await sign(claims({ scope: undefined }), platformKey)}`);
  });

  it('refuses a token whose scope holds no role', async () => {
    await expectRejected(`Bearer ${await sign(claims({ scope: [{}] }), platformKey)}`);
  });

  it('refuses a token from an issuer that is not accepted', async () => {
    await expectRejected(`Bearer ${await sign(claims({ iss: 'https://evil.example' }), platformKey)}`);
  });

  it('refuses a token signed by a key that is not in the JWKS (unknown kid)', async () => {
    await expectRejected(`Bearer ${await sign(claims(), await signingKey('not-published'))}`);
  });

  it("refuses a token signed by a foreign key under a published key's kid", async () => {
    const impostor = { ...(await signingKey('ignored')), kid: platformKey.kid };
    await expectRejected(`Bearer ${await sign(claims(), impostor)}`);
  });

  it('refuses an HS256 token, even one keyed with the published public key (algorithm confusion)', async () => {
    const secret = new TextEncoder().encode(await exportSPKI(platformKey.publicKey));
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: platformKey.kid, typ: 'JWT' }).sign(secret);
    await expectRejected(`Bearer ${token}`);
  });

  it('refuses an unsecured token (alg none)', async () => {
    await expectRejected(`Bearer ${new UnsecuredJWT(claims()).encode()}`);
  });

  it('picks up a key the IdP adds to the JWKS after boot (rotation) and accepts tokens signed with it', async () => {
    await expectAccepted(`Bearer ${await sign(claims(), platformKey)}`); // the key set is loaded and cached
    const rotated = await signingKey('platform-2024-02');
    jwks.keys = [rotated.jwk, platformKey.jwk];
    const fetchesBefore = jwks.fetches;
    // An unknown kid refetches the JWKS at most once per 30 s cooldown (jose's guard against
    // refetch floods); step the clock past it instead of waiting.
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 31_000);
    await expectAccepted(`Bearer ${await sign(claims(), rotated)}`);
    expect(jwks.fetches).toBe(fetchesBefore + 1);
  });

  describe('with the envelope versions of the mirroring guide', () => {
    it('accepts a token for a v1.1 endpoint id of this CyberApp', async () => {
      const body = envelope('enablement.read', undefined, { endpointId: ENDPOINT_ID_V1_1 });
      const res = await post(`Bearer ${await sign(claims({ scope: [{ role: ENDPOINT_ID_V1_1 }] }), platformKey)}`, body);
      expect(res.status).toBe(200);
      expect(res.body.payload).toEqual({ vendor_tenant_id: tree.partner.id });
    });

    it('answers a v2.0 callback id with a v1.1 request type, a v1.1 endpoint id and created_at 0001-01-01T00:00:00Z', async () => {
      const body = envelope('partner.mirroring.get_state', undefined, { endpointId: ENDPOINT_ID_V1_1, createdAt: '0001-01-01T00:00:00Z' });
      const res = await post(`Bearer ${await sign(claims({ scope: [{ role: ENDPOINT_ID_V1_1 }] }), platformKey)}`, body);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        type: responseType('a.p.partner.mirroring.get_state.ok.v1.0', 'v1.1'),
        request_id: body.request_id,
        response_id: expect.stringMatching(UUID),
        payload: { state: 'DISABLED' },
      });
    });

    it('refuses a v1.1 endpoint token whose role is the v1.0 endpoint id (the role must equal endpoint_id)', async () => {
      await expectRejected(`Bearer ${await sign(claims(), platformKey)}`, envelope('enablement.read', undefined, { endpointId: ENDPOINT_ID_V1_1 }));
    });

    it("refuses another CyberApp's v1.1 endpoint, even with a matching role", async () => {
      const token = await sign(claims({ scope: [{ role: OTHER_ENDPOINT_ID_V1_1 }] }), platformKey);
      await expectRejected(`Bearer ${token}`, envelope('partner.mirroring.get_state', undefined, { endpointId: OTHER_ENDPOINT_ID_V1_1 }));
    });

    it.each([['cti.a.p.acgw.endpoint.v2.0~vendor.app.endpoint.v1.0'], ['cti.a.p.acgw.endpoint.v1.x~vendor.app.endpoint.v1.0'], ['cti.a.p.acgw.endpoint.v1.1~vendor.apps.endpoint.v1.1']])(
      'refuses the endpoint id %s, even with a matching role',
      async (endpointId) => {
        const token = await sign(claims({ scope: [{ role: endpointId }] }), platformKey);
        await expectRejected(`Bearer ${token}`, envelope('enablement.read', undefined, { endpointId }));
      },
    );
  });

  describe('on a write callback', () => {
    const acronisTenantId = randomUUID();
    const write = (requestId: string): Record<string, unknown> =>
      envelope('enablement.write', { acronis_tenant_id: acronisTenantId }, { requestId });

    it('changes nothing in organizations_mapping when the token is bad', async () => {
      const before = await mappingRows(t);
      const foreign = await sign(claims({ scope: [{ role: OTHER_ENDPOINT_ID }] }), platformKey);
      await expectRejected(`Bearer ${foreign}`, write(randomUUID()));
      await expectRejected(`Bearer ${corruptSignature(await sign(claims(), platformKey))}`, write(randomUUID()));
      await expectRejected(undefined, write(randomUUID()));
      expect(await mappingRows(t)).toEqual(before);
    });

    it("runs the platform's retry of a rejected write once it carries a valid token", async () => {
      const requestId = randomUUID();
      await expectRejected(`Bearer ${corruptSignature(await sign(claims(), platformKey))}`, write(requestId));
      const res = await post(`Bearer ${await sign(claims(), platformKey)}`, write(requestId));
      expect(res.status).toBe(200);
      expect(await mappingRows(t)).toEqual([expect.objectContaining({ organization_id: tree.partner.id, acronis_tenant_id: acronisTenantId })]);
    });
  });
});

/**
 * jose's remote key set refetches the JWKS when a token names a kid it does not hold, at most once
 * per cooldown (CALLBACK_JWT_JWKS_COOLDOWN_SECONDS, counted from the last fetch); lookups waiting
 * for a fetch share it. Counted on a real JWKS server, with the cooldown at 1 s to keep time real.
 */
describe('platform JWT: JWKS refetch on an unknown kid, with a cooldown', () => {
  const COOLDOWN_MS = 1000;
  let jwks: FakeJwksServer;
  let t: TestApp;
  let tree: Tree;
  let platformKey: SigningKey;

  beforeAll(async () => {
    jwks = await FakeJwksServer.start();
    platformKey = await signingKey('platform-2024-01');
    jwks.keys = [platformKey.jwk];
    t = await createTestApp({ CALLBACK_JWT: 'required', CALLBACK_JWT_JWKS_URL: jwks.url, CALLBACK_JWT_JWKS_COOLDOWN_SECONDS: String(COOLDOWN_MS / 1000) });
    tree = await createTree(t.dataSource);
  });
  afterAll(async () => {
    await t.close();
    await jwks.close();
  });

  const pastCooldown = () => new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS + 200));

  async function post(token: string): Promise<{ res: request.Response; requestId: unknown }> {
    const body = envelope('enablement.read');
    const res = await request(t.server)
      .post('/callback')
      .set('X-CyberApp-Auth', cyberAppAuth(tree.partnerUser.login, tree.password))
      .set('Authorization', `Bearer ${token}`)
      .send(body);
    return { res, requestId: body.request_id };
  }

  it('accepts a token signed by a key published after the first fetch, refetching the JWKS once', async () => {
    expect((await post(await sign(claims(), platformKey))).res.status).toBe(200); // first fetch
    const fetched = jwks.fetches;
    const added = await signingKey('platform-2024-02');
    jwks.keys = [platformKey.jwk, added.jwk];
    await pastCooldown();
    const { res } = await post(await sign(claims(), added));
    expect(res.status).toBe(200);
    expect(jwks.fetches).toBe(fetched + 1);
    // Cached from now on: no further fetch for either key.
    expect((await post(await sign(claims(), added))).res.status).toBe(200);
    expect((await post(await sign(claims(), platformKey))).res.status).toBe(200);
    expect(jwks.fetches).toBe(fetched + 1);
  });

  it('refuses a key published within the cooldown of the last fetch without fetching, and accepts it after', async () => {
    // Keys made and tokens signed first, so that the two requests below follow each other well
    // within the 1 s cooldown however slow key generation is on a loaded machine.
    const unpublished = await sign(claims(), await signingKey('not-published'));
    const added = await signingKey('platform-2024-03');
    const earlyToken = await sign(claims(), added);
    await pastCooldown();
    expect((await post(unpublished)).res.status).toBe(401); // refetches: the cooldown starts
    const fetched = jwks.fetches;
    jwks.keys = [...jwks.keys, added.jwk];
    const early = await post(earlyToken);
    expectUnauthenticated(early.res, early.requestId);
    expect(jwks.fetches).toBe(fetched);
    await pastCooldown();
    expect((await post(await sign(claims(), added))).res.status).toBe(200);
    expect(jwks.fetches).toBe(fetched + 1);
  });

  it('keeps refusing a flood that lasts longer than the cooldown at one fetch per cooldown', async () => {
    await pastCooldown();
    const fetched = jwks.fetches;
    const started = Date.now();
    const impostor = await signingKey('ignored');
    let sent = 0;
    while (Date.now() - started < 2.5 * COOLDOWN_MS) {
      const batch = await Promise.all(Array.from({ length: 10 }, async () => post(await sign(claims(), { ...impostor, kid: randomUUID() }))));
      for (const { res, requestId } of batch) expectUnauthenticated(res, requestId);
      sent += batch.length;
    }
    // One fetch at the start (the cooldown had passed), then at most one each time it passes again.
    const allowed = Math.floor((Date.now() - started) / COOLDOWN_MS) + 1;
    expect(sent).toBeGreaterThan(allowed);
    expect(jwks.fetches - fetched).toBeLessThanOrEqual(allowed);
  });
});

describe('platform JWT: a flood of unknown kids within one cooldown', () => {
  // Long enough for 100 requests to be answered within it on a busy machine.
  const COOLDOWN_MS = 5000;
  let jwks: FakeJwksServer;
  let t: TestApp;
  let tree: Tree;
  let platformKey: SigningKey;

  beforeAll(async () => {
    jwks = await FakeJwksServer.start();
    platformKey = await signingKey('platform-2024-01');
    jwks.keys = [platformKey.jwk];
    t = await createTestApp({ CALLBACK_JWT: 'required', CALLBACK_JWT_JWKS_URL: jwks.url, CALLBACK_JWT_JWKS_COOLDOWN_SECONDS: String(COOLDOWN_MS / 1000) });
    tree = await createTree(t.dataSource);
  });
  afterAll(async () => {
    await t.close();
    await jwks.close();
  });

  async function post(token: string): Promise<{ res: request.Response; requestId: unknown }> {
    const body = envelope('enablement.read');
    const res = await request(t.server)
      .post('/callback')
      .set('X-CyberApp-Auth', cyberAppAuth(tree.partnerUser.login, tree.password))
      .set('Authorization', `Bearer ${token}`)
      .send(body);
    return { res, requestId: body.request_id };
  }

  it('answers 100 tokens with random unknown kids each with 401 in the error envelope, for one JWKS fetch', async () => {
    expect((await post(await sign(claims(), platformKey))).res.status).toBe(200); // the first fetch
    await new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS + 200));
    const fetched = jwks.fetches;
    const impostor = await signingKey('ignored');
    const tokens = await Promise.all(Array.from({ length: 100 }, () => sign(claims(), { ...impostor, kid: randomUUID() })));
    const started = Date.now();
    const answers = await Promise.all(tokens.map((token) => post(token)));
    expect(Date.now() - started).toBeLessThan(COOLDOWN_MS); // else the next assertion would not be about one cooldown
    for (const { res, requestId } of answers) expectUnauthenticated(res, requestId);
    // Past the cooldown the first unknown kid refetches; the others share that fetch or fall within the new cooldown.
    expect(jwks.fetches - fetched).toBe(1);
    // And the known key still works, from the cache.
    expect((await post(await sign(claims(), platformKey))).res.status).toBe(200);
    expect(jwks.fetches - fetched).toBe(1);
  }, 30_000);
});

describe('platform JWT when the JWKS cannot be fetched', () => {
  let jwks: FakeJwksServer;
  let platformKey: SigningKey;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    jwks = await FakeJwksServer.start();
    platformKey = await signingKey('platform-2024-01');
    jwks.keys = [platformKey.jwk];
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await jwks.close();
  });

  async function boot(jwksUrl: string): Promise<{ t: TestApp; tree: Tree }> {
    const t = await createTestApp({ CALLBACK_JWT: 'required', CALLBACK_JWT_JWKS_URL: jwksUrl });
    apps.push(t);
    return { t, tree: await createTree(t.dataSource) };
  }

  async function post({ t, tree }: { t: TestApp; tree: Tree }, token: string): Promise<{ res: request.Response; requestId: unknown }> {
    const body = envelope('enablement.read');
    const res = await request(t.server)
      .post('/callback')
      .set('X-CyberApp-Auth', cyberAppAuth(tree.partnerUser.login, tree.password))
      .set('Authorization', `Bearer ${token}`)
      .send(body);
    return { res, requestId: body.request_id };
  }

  /** 503 in the error envelope: the platform shows "could not be established", not "invalid credentials". */
  function expectUnavailable({ res, requestId }: { res: request.Response; requestId: unknown }): void {
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      request_id: requestId,
      response_id: expect.stringMatching(UUID),
      err_message: expect.any(String),
      message: expect.any(String),
      code: 'SERVICE_UNAVAILABLE',
    });
  }

  it('answers 503 in the error envelope while the JWKS server is unreachable', async () => {
    const app = await boot(`http://127.0.0.1:${await closedPort()}/keys`);
    expectUnavailable(await post(app, await sign(claims(), platformKey)));
  });

  it('still refuses a token that is not RS256 with 401 while the JWKS server is unreachable', async () => {
    const app = await boot(`http://127.0.0.1:${await closedPort()}/keys`);
    const { res, requestId } = await post(app, new UnsecuredJWT(claims()).encode());
    expectUnauthenticated(res, requestId);
  });

  it('answers 503 while the JWKS server fails, and accepts again once it serves the keys', async () => {
    const app = await boot(jwks.url);
    jwks.behaviour = 'fail';
    expectUnavailable(await post(app, await sign(claims(), platformKey)));
    jwks.behaviour = 'garbage';
    expectUnavailable(await post(app, await sign(claims(), platformKey)));
    jwks.behaviour = 'not-a-jwks';
    expectUnavailable(await post(app, await sign(claims(), platformKey)));
    jwks.behaviour = 'serve';
    expect((await post(app, await sign(claims(), platformKey))).res.status).toBe(200);
  });

  it('answers 503 when the JWKS server does not answer within the fetch timeout (5 s)', async () => {
    const app = await boot(jwks.url);
    jwks.behaviour = 'hang';
    try {
      expectUnavailable(await post(app, await sign(claims(), platformKey)));
    } finally {
      jwks.behaviour = 'serve';
    }
  }, 20_000);
});

describe('platform JWT defaults', () => {
  it('requires the platform JWT in production when CALLBACK_JWT is not set', async () => {
    const jwks = await FakeJwksServer.start();
    const platformKey = await signingKey('platform-2024-01');
    jwks.keys = [platformKey.jwk];
    // An empty variable counts as unset; TEST_ENV's CALLBACK_JWT=off must not leak in.
    const t = await createTestApp({ NODE_ENV: 'production', CALLBACK_JWT: '', CALLBACK_JWT_JWKS_URL: jwks.url });
    try {
      const tree = await createTree(t.dataSource);
      const send = (authorization?: string) => {
        const req = request(t.server).post('/callback').set('X-CyberApp-Auth', cyberAppAuth(tree.partnerUser.login, tree.password));
        if (authorization) req.set('Authorization', authorization);
        const body = envelope('enablement.read');
        return req.send(body).then((res) => ({ res, requestId: body.request_id }));
      };
      const anonymous = await send();
      expectUnauthenticated(anonymous.res, anonymous.requestId);
      expect((await send(`Bearer ${await sign(claims(), platformKey)}`)).res.status).toBe(200);
    } finally {
      await t.close();
      await jwks.close();
    }
  });

  // Checked on the config factory, not by booting: a boot that fails half-way leaves TypeORM's
  // connection retries running after the test.
  it('refuses a CALLBACK_JWT_ISSUERS that names no issuer', async () => {
    await expect(withEnv({ CALLBACK_JWT_ISSUERS: ' , ' }, () => Promise.resolve().then(() => authConfig()))).rejects.toThrow(/CALLBACK_JWT_ISSUERS/);
  });
});
