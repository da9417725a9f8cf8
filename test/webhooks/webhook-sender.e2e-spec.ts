import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { WebhooksConfig } from '../../src/config/webhooks.config';
import { DeliveryErrorClass } from '../../src/webhooks/webhook-delivery-attempt.entity';
import { generateSecret } from '../../src/webhooks/webhook-signer';
import { WebhookSender, type SendMessage, type SendTarget } from '../../src/webhooks/webhook-sender.service';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver';

function webhooksConfig(overrides: Partial<WebhooksConfig> = {}): WebhooksConfig {
  return {
    workerEnabled: false,
    concurrency: 64,
    concurrencyPerSubscription: 8,
    maxAttempts: 8,
    timeoutMs: 5000,
    backoffBaseMs: 1000,
    backoffMaxMs: 3_600_000,
    success200Only: false,
    allowedPrivate: ['127.0.0.1/8', '::1'],
    retentionPerSubscription: 10,
    retentionMs: 30 * 24 * 60 * 60_000,
    retentionIntervalMs: 600_000,
    rotationOverlapMs: 86_400_000,
    responseBodyLimit: 64,
    pollMs: 1000,
    leaseMs: 6000,
    shutdownGraceMs: 5000,
    autoDisableAfterMs: 120 * 3_600_000,
    maxLagMs: 250,
    ...overrides,
  };
}

const body = Buffer.from('{"id":"evt-1","type":"user.created","data":{"name":"Zoë «quoted»","n":1.50}}', 'utf8');
const message: SendMessage = { eventId: 'evt-1', eventType: 'user.created', body };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('WebhookSender against a real receiver', () => {
  const senders: WebhookSender[] = [];
  const receivers: WebhookReceiver[] = [];

  function sender(overrides: Partial<WebhooksConfig> = {}): WebhookSender {
    const created = new WebhookSender(webhooksConfig(overrides));
    senders.push(created);
    return created;
  }

  async function receiver(...args: Parameters<typeof startWebhookReceiver>): Promise<WebhookReceiver> {
    const started = await startWebhookReceiver(...args);
    receivers.push(started);
    return started;
  }

  function target(url: string, overrides: Partial<SendTarget> = {}): SendTarget {
    return { url, sslVerification: false, secrets: [], owner: 'org-7', ...overrides };
  }

  afterEach(async () => {
    for (const s of senders.splice(0)) s.onApplicationShutdown();
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('posts the exact body bytes with CloudStack and Standard Webhooks headers that both verify', async () => {
    const secret = generateSecret();
    const hooks = await receiver({ secret });
    const result = await sender().send(target(`${hooks.url}?token=abc`, { secrets: [secret] }), message);

    expect(result).toMatchObject({ status: 200, responseBody: 'ok', success: true, errorClass: null, error: null, gone: false, retryAfterMs: null });
    const [delivery] = await hooks.waitFor(1);
    expect(delivery.method).toBe('POST');
    expect(delivery.path).toBe('/hook?token=abc');
    expect(delivery.body.equals(body)).toBe(true);
    expect(delivery.verified).toEqual({ cs: true, standard: true });
    expect(delivery.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': 'CS-Hookshot/org-7',
      'x-cs-event-id': 'evt-1',
      'x-cs-event': 'user.created',
      'webhook-id': 'evt-1',
    });
    expect(Math.abs(Number(delivery.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(result.startedAt).toBeInstanceOf(Date);
  });

  it('signs with a raw secret so that raw-mode receivers verify', async () => {
    const hooks = await receiver({ secret: 'my own secret' });
    await sender().send(target(hooks.url, { secrets: ['my own secret'] }), message);
    const [delivery] = await hooks.waitFor(1);
    expect(delivery.verified).toEqual({ cs: true, standard: true });
  });

  it('sends no signatures without a secret', async () => {
    const hooks = await receiver();
    expect((await sender().send(target(hooks.url), message)).success).toBe(true);
    const [delivery] = await hooks.waitFor(1);
    expect(delivery.headers['x-cs-signature']).toBeUndefined();
    expect(delivery.headers['webhook-signature']).toBeUndefined();
    expect(delivery.headers['webhook-id']).toBe('evt-1');
    expect(delivery.verified).toEqual({ cs: null, standard: null });
  });

  it('sends two signatures during a rotation, one verifying with each key', async () => {
    const current = generateSecret();
    const previous = generateSecret();
    const hooks = await receiver({ secret: current, previousSecret: previous });
    await sender().send(target(hooks.url, { secrets: [current, previous] }), message);
    const [delivery] = await hooks.waitFor(1);
    expect(delivery.verified).toEqual({ cs: true, standard: true });

    const headers = delivery.headers as Record<string, string>;
    const signatures = headers['webhook-signature'].split(' ');
    expect(signatures).toHaveLength(2);
    expect(() => new Webhook(current).verify(delivery.body, { ...headers, 'webhook-signature': signatures[0] })).not.toThrow();
    expect(() => new Webhook(previous).verify(delivery.body, { ...headers, 'webhook-signature': signatures[1] })).not.toThrow();
    // A receiver still holding only the old secret accepts the delivery as sent.
    expect(() => new Webhook(previous).verify(delivery.body, headers)).not.toThrow();
  });

  it.each([200, 201, 204])('counts HTTP %i as delivered', async (status) => {
    const hooks = await receiver();
    hooks.setBehaviour({ status });
    const result = await sender().send(target(hooks.url), message);
    expect(result).toMatchObject({ status, success: true, errorClass: null, error: null });
  });

  it('counts only HTTP 200 as delivered in 200-only mode', async () => {
    const hooks = await receiver();
    hooks.setBehaviour({ status: 201, body: 'created' });
    const strict = sender({ success200Only: true });
    expect(await strict.send(target(hooks.url), message)).toMatchObject({
      status: 201,
      success: false,
      errorClass: DeliveryErrorClass.Http,
      error: 'HTTP 201',
      responseBody: 'created',
    });
    hooks.setBehaviour({ status: 200 });
    expect((await strict.send(target(hooks.url), message)).success).toBe(true);
  });

  it('reports 410 Gone', async () => {
    const hooks = await receiver();
    hooks.setBehaviour({ status: 410, body: 'no such hook' });
    expect(await sender().send(target(hooks.url), message)).toMatchObject({
      status: 410,
      success: false,
      gone: true,
      errorClass: DeliveryErrorClass.Http,
    });
  });

  it('reports a 500 as an http failure with the start of the response body', async () => {
    const hooks = await receiver();
    hooks.setBehaviour({ status: 500, body: `${'e'.repeat(64)}TAIL` });
    const result = await sender({ responseBodyLimit: 64 }).send(target(hooks.url), message);
    expect(result).toMatchObject({ status: 500, success: false, gone: false, errorClass: DeliveryErrorClass.Http, error: 'HTTP 500' });
    expect(result.responseBody).toBe('e'.repeat(64));
  });

  it('parses Retry-After given in seconds', async () => {
    const hooks = await receiver();
    hooks.setBehaviour({ status: 429, headers: { 'retry-after': '120' } });
    expect((await sender().send(target(hooks.url), message)).retryAfterMs).toBe(120_000);
  });

  it('parses Retry-After given as an HTTP date', async () => {
    const hooks = await receiver();
    hooks.setBehaviour({ status: 503, headers: { 'retry-after': new Date(Date.now() + 90_000).toUTCString() } });
    const { retryAfterMs } = await sender().send(target(hooks.url), message);
    expect(retryAfterMs).toBeGreaterThan(85_000);
    expect(retryAfterMs).toBeLessThanOrEqual(90_000);
  });

  it('caps Retry-After at 24 hours and ignores an invalid one', async () => {
    const hooks = await receiver();
    const send = sender();
    hooks.setBehaviour({ status: 503, headers: { 'retry-after': '999999999' } });
    expect((await send.send(target(hooks.url), message)).retryAfterMs).toBe(86_400_000);
    hooks.setBehaviour({ status: 503, headers: { 'retry-after': 'soon' } });
    expect((await send.send(target(hooks.url), message)).retryAfterMs).toBeNull();
  });

  it('gives up on a receiver that never answers within the timeout', async () => {
    const hooks = await receiver();
    hooks.setBehaviour('hang');
    const result = await sender().send(target(hooks.url), message, 300);
    expect(result).toMatchObject({ status: null, responseBody: null, success: false, errorClass: DeliveryErrorClass.Timeout });
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
    expect(result.durationMs).toBeLessThan(1500);
  });

  it('bounds reading the answer too: a body that stalls after the headers times out', async () => {
    const stalling = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    });
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = stalling.address() as AddressInfo;
      const result = await sender().send(target(`http://127.0.0.1:${port}/hook`), message, 300);
      expect(result).toMatchObject({ status: null, success: false, errorClass: DeliveryErrorClass.Timeout });
      expect(result.durationMs).toBeLessThan(1500);
    } finally {
      stalling.closeAllConnections();
      await new Promise<void>((resolve) => stalling.close(() => resolve()));
    }
  });

  it('reports a connection closed without an answer as a connect failure', async () => {
    const hooks = await receiver();
    hooks.setBehaviour('close');
    const result = await sender().send(target(hooks.url), message);
    expect(result).toMatchObject({ status: null, success: false, errorClass: DeliveryErrorClass.Connect });
    expect(result.error).toBeTruthy();
  });

  it('reports a refused connection as a connect failure', async () => {
    const port = await freePort();
    const result = await sender().send(target(`http://127.0.0.1:${port}/hook`), message);
    expect(result).toMatchObject({ status: null, success: false, errorClass: DeliveryErrorClass.Connect });
    expect(result.error).toContain('ECONNREFUSED');
  });

  it('reports a host that does not resolve as a dns failure', async () => {
    const result = await sender().send(target('http://nonexistent.invalid/hook'), message);
    expect(result).toMatchObject({ status: null, success: false, errorClass: DeliveryErrorClass.Dns });
  });

  it('does not follow redirects', async () => {
    const elsewhere = await receiver();
    const hooks = await receiver();
    hooks.setBehaviour({ redirect: elsewhere.url });
    const result = await sender().send(target(hooks.url), message);
    expect(result).toMatchObject({ status: 302, success: false, errorClass: DeliveryErrorClass.Http, error: 'HTTP 302 (redirects are not followed)' });
    expect(elsewhere.received).toHaveLength(0);
  });

  it('refuses a self-signed certificate when SSL verification is on', async () => {
    const hooks = await receiver({ https: true });
    const result = await sender().send(target(hooks.url, { sslVerification: true }), message);
    expect(result).toMatchObject({ status: null, success: false, errorClass: DeliveryErrorClass.Tls });
    expect(hooks.received).toHaveLength(0);
  });

  it('accepts a self-signed certificate when SSL verification is off', async () => {
    const secret = generateSecret();
    const hooks = await receiver({ https: true, secret });
    const result = await sender().send(target(hooks.url, { sslVerification: false, secrets: [secret] }), message);
    expect(result).toMatchObject({ status: 200, success: true });
    const [delivery] = await hooks.waitFor(1);
    expect(delivery.verified).toEqual({ cs: true, standard: true });
  });

  it('blocks a host name resolving to loopback when the allow-list does not permit it', async () => {
    const hooks = await receiver();
    const result = await sender({ allowedPrivate: [] }).send(target(hooks.url.replace('127.0.0.1', 'localhost')), message);
    expect(result).toMatchObject({ status: null, success: false, errorClass: DeliveryErrorClass.Blocked });
    expect(result.error).toContain('WEBHOOKS_ALLOWED_PRIVATE');
    expect(hooks.received).toHaveLength(0);
  });

  it('blocks a loopback IP literal when the allow-list does not permit it', async () => {
    const hooks = await receiver();
    const send = sender({ allowedPrivate: [] });
    expect((await send.send(target(hooks.url), message)).errorClass).toBe(DeliveryErrorClass.Blocked);
    expect((await send.send(target(`http://[::1]:${hooks.port}/hook`), message)).errorClass).toBe(DeliveryErrorClass.Blocked);
    expect((await send.send(target(`http://[::ffff:127.0.0.1]:${hooks.port}/hook`), message)).errorClass).toBe(
      DeliveryErrorClass.Blocked,
    );
    expect(hooks.received).toHaveLength(0);
  });

  it('connects to a host name the allow-list names', async () => {
    const hooks = await receiver();
    const result = await sender({ allowedPrivate: ['localhost'] }).send(target(hooks.url.replace('127.0.0.1', 'localhost')), message);
    expect(result.success).toBe(true);
  });

  it('truncates a large response body and keeps working afterwards', async () => {
    const hooks = await receiver();
    const send = sender({ responseBodyLimit: 1024 });
    hooks.setBehaviour({ status: 200, body: 'ü'.repeat(1_000_000) });
    const result = await send.send(target(hooks.url), message);
    expect(result).toMatchObject({ status: 200, success: true });
    expect(Buffer.byteLength(result.responseBody ?? '')).toBe(1024);

    hooks.setBehaviour({ status: 200, body: 'ok' });
    expect(await send.send(target(hooks.url), message)).toMatchObject({ status: 200, responseBody: 'ok' });
  });

  it('never puts a secret into an error message', async () => {
    const secret = 'nonexistent';
    const result = await sender().send(target('http://nonexistent.invalid/hook', { secrets: [secret] }), message);
    expect(result.error).not.toContain(secret);
  });

  it('sends many deliveries concurrently over kept-alive connections', async () => {
    const hooks = await receiver();
    const send = sender();
    const results = await Promise.all(Array.from({ length: 200 }, () => send.send(target(hooks.url), message)));
    expect(results.every((r) => r.success)).toBe(true);
    const again = await Promise.all(Array.from({ length: 50 }, () => send.send(target(hooks.url), message)));
    expect(again.every((r) => r.success)).toBe(true);
    expect(hooks.received).toHaveLength(250);
    expect(hooks.connections).toBeLessThanOrEqual(200);
  });

  it('reuses one kept-alive connection for sequential deliveries', async () => {
    const hooks = await receiver();
    const send = sender();
    for (let i = 0; i < 5; i++) expect((await send.send(target(hooks.url), message)).success).toBe(true);
    expect(hooks.connections).toBe(1);
  });

  it('retries once on a fresh connection when a kept-alive one turns out to be closed', async () => {
    const hooks = await receiver();
    hooks.setBehaviour((_delivery, index) => (index === 1 ? 'close' : { status: 200, body: 'ok' }));
    const send = sender();
    expect((await send.send(target(hooks.url), message)).success).toBe(true);
    expect(await send.send(target(hooks.url), message)).toMatchObject({ status: 200, success: true });
    expect(hooks.received).toHaveLength(3);
    expect(hooks.connections).toBe(2);
  });
});
