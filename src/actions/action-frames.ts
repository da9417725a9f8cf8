/**
 * Frames of the HIRO action protocol `action-1.0.0` (docs/protocols.md, action channel), shared by the gateway's channel
 * and the handler client. Every frame is a JSON text message with a `type`.
 */
export const ACTION_PROTOCOL = 'action-1.0.0';
export const TOKEN_PROTOCOL_PREFIX = 'token-';
export const ACTION_WS_PATH = '/api/action-ws/1.0';

export interface SubmitActionFrame {
  type: 'submitAction';
  id: string;
  handler: string;
  capability: string;
  parameters: Record<string, unknown>;
  /** Milliseconds left until the gateway gives the action up. */
  timeout: number;
}

export interface AcknowledgedFrame {
  type: 'acknowledged';
  id: string;
  code: number;
  message: string;
}

export type NegativeAcknowledgedFrame = Omit<AcknowledgedFrame, 'type'> & { type: 'negativeAcknowledged' };

export interface SendActionResultFrame {
  type: 'sendActionResult';
  id: string;
  /**
   * `{"message","code"[,"data"]}`: as a string holding that JSON (what HIRO's reference clients
   * send) or as the object itself (what the protocol text shows). The gateway takes both.
   */
  result: string | ActionResult;
}

export interface ConfigChangedFrame {
  type: 'configChanged';
}

export interface ErrorFrame {
  type: 'error';
  code: number;
  message: string;
}

export type ActionFrame =
  | SubmitActionFrame
  | AcknowledgedFrame
  | NegativeAcknowledgedFrame
  | SendActionResultFrame
  | ConfigChangedFrame
  | ErrorFrame;

/** A result as the protocol defines it: the object of `sendActionResult`, or parsed from its JSON string. */
export interface ActionResult {
  code: number;
  message: string;
  data?: unknown;
  [key: string]: unknown;
}

/** A checked result, with `text`: the JSON stored for it (the string as received, or the object serialized). */
export type ResultCheck = { ok: true; result: ActionResult; text: string } | { ok: false; code: 400 | 413; message: string };

/**
 * Checks a `sendActionResult`'s `result`: a JSON object with an integer `code` and a string
 * `message`, sent as a string holding it or as the object itself, whose JSON text is at most
 * `maxBytes` (the text that is stored: both forms are measured alike).
 */
export function checkResult(value: unknown, maxBytes: number): ResultCheck {
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (typeof value !== 'string' && !isObject) return { ok: false, code: 400, message: 'result must be a JSON object, or a string holding one.' };
  // A string is kept exactly as received (the reference clients' form); an object as its JSON.
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (Buffer.byteLength(text, 'utf8') > maxBytes) return { ok: false, code: 413, message: `result is larger than ${maxBytes} bytes.` };
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return { ok: false, code: 400, message: 'result is not valid JSON.' };
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, code: 400, message: 'result must hold a JSON object.' };
  const { code, message } = parsed as Record<string, unknown>;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 100 || code > 999) {
    return { ok: false, code: 400, message: 'result.code must be an integer status (100-999).' };
  }
  if (typeof message !== 'string') return { ok: false, code: 400, message: 'result.message must be a string.' };
  return { ok: true, result: parsed as ActionResult, text };
}

/** A received frame as a plain object, or null when the text is not a JSON object. */
export function parseFrame(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The error of an `error` frame in either of its documented shapes (`{"type":"error",…}` or `{"error":{…}}`). */
export function errorOf(frame: Record<string, unknown>): { code: number; message: string } | null {
  const body = frame.type === 'error' ? frame : typeof frame.error === 'object' && frame.error !== null ? (frame.error as Record<string, unknown>) : null;
  if (!body) return null;
  return { code: typeof body.code === 'number' ? body.code : 0, message: typeof body.message === 'string' ? body.message : '' };
}
