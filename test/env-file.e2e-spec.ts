import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createTestApp, TestApp } from './setup/create-test-app';

describe('settings from the .env file', () => {
  let t: TestApp;
  const dir = mkdtempSync(join(tmpdir(), 'gateway-env-'));

  beforeAll(async () => {
    const file = join(dir, '.env');
    writeFileSync(file, 'BODY_LIMIT_BYTES=2048\n');
    t = await createTestApp({ ENV_FILE: file });
  });
  afterAll(async () => {
    await t.close();
    delete process.env.BODY_LIMIT_BYTES;
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a value set only in .env to what is read before Nest starts (the body limit)', async () => {
    const res = await request(t.server)
      .post('/callback')
      .send({ padding: 'x'.repeat(5000) })
      .expect(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
  });
});
