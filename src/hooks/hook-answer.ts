import { DeliveryErrorClass } from '../webhooks/webhook-delivery-attempt.entity';
import type { SendResult } from '../webhooks/webhook-sender.service';
import { HookErrorClass } from './hook-operation';

const SENDER_CLASSES: Record<DeliveryErrorClass, HookErrorClass> = {
  [DeliveryErrorClass.Dns]: HookErrorClass.Dns,
  [DeliveryErrorClass.Connect]: HookErrorClass.Connect,
  [DeliveryErrorClass.Tls]: HookErrorClass.Tls,
  [DeliveryErrorClass.Timeout]: HookErrorClass.Timeout,
  [DeliveryErrorClass.Http]: HookErrorClass.Http,
  [DeliveryErrorClass.Blocked]: HookErrorClass.Blocked,
};

/** A pre-hook's valid answer: `{"approved": bool, "work_id"?: string, "reason"?: string}`. */
export interface HookAnswer {
  approved: boolean;
  workId: string | null;
  reason: string | null;
}

/** The answer, or why there is none. */
export type JudgedAnswer = { ok: true; answer: HookAnswer; status: number } | { ok: false; errorClass: HookErrorClass; error: string; status: number | null };

export const MAX_WORK_ID = 255;
export const MAX_REASON = 1000;

/** Text from a third party that ends up in error messages and logs: control characters out, bounded. */
export function cleanText(value: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
  const clean = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/**
 * Reads a pre-hook's answer. Only a 2xx with a JSON object whose `approved` is a boolean counts;
 * `work_id` and `reason`, when present, must be strings (or null). An answer that fills the
 * response limit is refused as too large (it was cut off, so it is not the hook's whole answer).
 */
export function judgeAnswer(result: SendResult, bodyLimit: number): JudgedAnswer {
  const status = result.status;
  const refuse = (errorClass: HookErrorClass, error: string): JudgedAnswer => ({ ok: false, errorClass, error, status });
  if (status === null) return refuse(result.errorClass ? SENDER_CLASSES[result.errorClass] : HookErrorClass.Connect, result.error ?? 'no answer');
  if (status >= 300 && status < 400) return refuse(HookErrorClass.Redirect, `HTTP ${status} (redirects are not followed)`);
  if (status < 200 || status >= 300) return refuse(HookErrorClass.Http, `HTTP ${status}`);
  const body = result.responseBody ?? '';
  if (Buffer.byteLength(body, 'utf8') >= bodyLimit) return refuse(HookErrorClass.TooLarge, `the answer reached the ${bodyLimit}-byte limit`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return refuse(HookErrorClass.Malformed, 'the answer is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return refuse(HookErrorClass.Malformed, 'the answer is not a JSON object');
  const { approved, work_id: workId, reason } = parsed as Record<string, unknown>;
  if (typeof approved !== 'boolean') return refuse(HookErrorClass.Malformed, 'the answer has no boolean "approved"');
  if (workId !== undefined && workId !== null && typeof workId !== 'string') return refuse(HookErrorClass.Malformed, '"work_id" is not a string');
  if (reason !== undefined && reason !== null && typeof reason !== 'string') return refuse(HookErrorClass.Malformed, '"reason" is not a string');
  if (typeof workId === 'string' && workId.length > MAX_WORK_ID) return refuse(HookErrorClass.Malformed, `"work_id" is longer than ${MAX_WORK_ID} characters`);
  return {
    ok: true,
    status,
    answer: {
      approved,
      workId: typeof workId === 'string' ? cleanText(workId, MAX_WORK_ID) : null,
      reason: typeof reason === 'string' && reason.trim() !== '' ? cleanText(reason, MAX_REASON) : null,
    },
  };
}
