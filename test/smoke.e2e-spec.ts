import request from 'supertest';
import { createTestApp, TestApp } from './setup/create-test-app';

describe('service liveness', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('answers GET / as the sample does', async () => {
    const res = await request(t.server).get('/').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toBe('Hello there! Send POST requests to the /callback endpoint.');
  });

  it('reports live and ready (database ping)', async () => {
    await request(t.server).get('/health/live').expect(200);
    const res = await request(t.server).get('/health/ready').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
  });

  it('tags every response with a request id, keeping a well-formed incoming one', async () => {
    const res = await request(t.server).get('/').set('X-Request-Id', 'abc-123').expect(200);
    expect(res.headers['x-request-id']).toBe('abc-123');
    const fresh = await request(t.server).get('/').expect(200);
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
