import { checkResult, errorOf } from './action-frames';
import { reconnectDelayMs } from './reconnect-backoff';

describe('reconnectDelayMs (HIRO Python client schedule)', () => {
  it('waits 0, 1, 2 … 10 s, then 20 … 60 s, then a random 60-600 s', () => {
    expect(Array.from({ length: 16 }, (_, n) => reconnectDelayMs(n) / 1000)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60]);
    for (let n = 16; n < 100; n++) {
      const delay = reconnectDelayMs(n);
      expect(delay).toBeGreaterThanOrEqual(60_000);
      expect(delay).toBeLessThanOrEqual(600_000);
    }
  });
});

describe('checkResult', () => {
  it('takes a JSON string holding an object with an integer code and a string message', () => {
    expect(checkResult('{"message":"Action successful","code":200,"data":"x"}', 1024)).toEqual({
      ok: true,
      result: { message: 'Action successful', code: 200, data: 'x' },
    });
  });

  it.each([
    [{ code: 200, message: 'x' }, 400],
    ['nope', 400],
    ['[]', 400],
    ['{"code":"200","message":"x"}', 400],
    ['{"code":200.5,"message":"x"}', 400],
    ['{"code":200}', 400],
    [JSON.stringify({ code: 200, message: 'x'.repeat(2000) }), 413],
  ])('refuses %j with %i', (value, code) => {
    expect(checkResult(value, 1024)).toMatchObject({ ok: false, code });
  });
});

describe('errorOf', () => {
  it('reads both documented error shapes', () => {
    expect(errorOf({ type: 'error', code: 401, message: 'no' })).toEqual({ code: 401, message: 'no' });
    expect(errorOf({ error: { code: 401, message: 'no' } })).toEqual({ code: 401, message: 'no' });
    expect(errorOf({ type: 'acknowledged' })).toBeNull();
  });
});
