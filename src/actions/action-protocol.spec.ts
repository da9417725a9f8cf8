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
  it('takes a JSON string holding an object with an integer code and a string message, and keeps the string as its text', () => {
    const text = '{"message":"Action successful", "code":200,"data":"x"}';
    expect(checkResult(text, 1024)).toEqual({ ok: true, result: { message: 'Action successful', code: 200, data: 'x' }, text });
  });

  it('takes the object itself, as the protocol text shows it, with its JSON as the text', () => {
    expect(checkResult({ message: 'Action successful', code: 200, data: { lines: ['x'] } }, 1024)).toEqual({
      ok: true,
      result: { message: 'Action successful', code: 200, data: { lines: ['x'] } },
      text: '{"message":"Action successful","code":200,"data":{"lines":["x"]}}',
    });
  });

  it('measures both forms by the JSON stored: the limit itself passes, one byte more is 413', () => {
    const exact = (limit: number) => ({ code: 200, message: 'x'.repeat(limit - JSON.stringify({ code: 200, message: '' }).length) });
    const result = exact(1024);
    expect(JSON.stringify(result)).toHaveLength(1024);
    expect(checkResult(result, 1024)).toMatchObject({ ok: true });
    expect(checkResult(JSON.stringify(result), 1024)).toMatchObject({ ok: true });
    expect(checkResult(result, 1023)).toMatchObject({ ok: false, code: 413 });
    expect(checkResult(JSON.stringify(result), 1023)).toMatchObject({ ok: false, code: 413 });
    // Multi-byte characters count as the bytes they take.
    expect(checkResult({ code: 200, message: 'é'.repeat(600) }, 1024)).toMatchObject({ ok: false, code: 413 });
  });

  it.each([
    ['null', 400, null],
    ['a number', 400, 200],
    ['a boolean', 400, true],
    ['an array of a result', 400, [{ code: 200, message: 'x' }]],
    ['an object whose code is a string', 400, { code: '200', message: 'x' }],
    ['an object without a message', 400, { code: 200 }],
    ['a string that is not JSON', 400, 'nope'],
    ['a string holding an array', 400, '[]'],
    ['a string whose code is a string', 400, '{"code":"200","message":"x"}'],
    ['a string whose code is fractional', 400, '{"code":200.5,"message":"x"}'],
    ['a string without a message', 400, '{"code":200}'],
    ['an oversize string', 413, JSON.stringify({ code: 200, message: 'x'.repeat(2000) })],
    ['an oversize object', 413, { code: 200, message: 'x'.repeat(2000) }],
  ])('refuses %s with %i', (_name, code, value) => {
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
