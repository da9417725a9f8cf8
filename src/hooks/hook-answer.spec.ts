import { DeliveryErrorClass } from '../webhooks/webhook-delivery-attempt.entity';
import type { SendResult } from '../webhooks/webhook-sender.service';
import { judgeAnswer } from './hook-answer';
import { HookErrorClass } from './hook-operation';

const LIMIT = 1024;

function answered(status: number, body: string): SendResult {
  return { request: { url: 'http://127.0.0.1/hook', headers: {} }, startedAt: new Date(), durationMs: 1, status, responseBody: body, errorClass: null, error: null, success: status < 300, gone: false, retryAfterMs: null };
}

describe('judgeAnswer', () => {
  it('reads approved, work_id and reason', () => {
    expect(judgeAnswer(answered(200, '{"approved":false,"work_id":"w-1","reason":"quota"}'), LIMIT)).toEqual({
      ok: true,
      status: 200,
      answer: { approved: false, workId: 'w-1', reason: 'quota' },
    });
    expect(judgeAnswer(answered(201, '{"approved":true,"extra":1}'), LIMIT)).toEqual({ ok: true, status: 201, answer: { approved: true, workId: null, reason: null } });
  });

  it('cleans control characters out of the reason', () => {
    const judged = judgeAnswer(answered(200, JSON.stringify({ approved: false, reason: 'no\r\nway\u0000' })), LIMIT);
    expect(judged).toMatchObject({ ok: true, answer: { reason: 'no way' } });
  });

  it.each([
    ['not JSON', answered(200, 'OK'), HookErrorClass.Malformed],
    ['an array', answered(200, '[true]'), HookErrorClass.Malformed],
    ['null', answered(200, 'null'), HookErrorClass.Malformed],
    ['no approved', answered(200, '{}'), HookErrorClass.Malformed],
    ['approved as a string', answered(200, '{"approved":"true"}'), HookErrorClass.Malformed],
    ['approved as a number', answered(200, '{"approved":1}'), HookErrorClass.Malformed],
    ['work_id as a number', answered(200, '{"approved":true,"work_id":7}'), HookErrorClass.Malformed],
    ['reason as an object', answered(200, '{"approved":false,"reason":{}}'), HookErrorClass.Malformed],
    ['a work_id over 255 characters', answered(200, JSON.stringify({ approved: true, work_id: 'w'.repeat(256) })), HookErrorClass.Malformed],
    ['an answer that fills the limit', answered(200, `{"approved":true}${' '.repeat(LIMIT)}`.slice(0, LIMIT)), HookErrorClass.TooLarge],
    ['a redirect', answered(302, ''), HookErrorClass.Redirect],
    ['a 404', answered(404, '{"approved":true}'), HookErrorClass.Http],
  ])('refuses %s', (_name, result, errorClass) => {
    expect(judgeAnswer(result, LIMIT)).toMatchObject({ ok: false, errorClass });
  });

  it.each([
    [DeliveryErrorClass.Timeout, HookErrorClass.Timeout],
    [DeliveryErrorClass.Connect, HookErrorClass.Connect],
    [DeliveryErrorClass.Dns, HookErrorClass.Dns],
    [DeliveryErrorClass.Tls, HookErrorClass.Tls],
    [DeliveryErrorClass.Blocked, HookErrorClass.Blocked],
  ])('keeps the sender class %s when there was no answer', (sent, expected) => {
    const result: SendResult = { ...answered(0, ''), status: null, responseBody: null, errorClass: sent, error: 'boom', success: false };
    expect(judgeAnswer(result, LIMIT)).toEqual({ ok: false, errorClass: expected, error: 'boom', status: null });
  });
});
