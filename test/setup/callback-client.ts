import request from 'supertest';
import type { TestApp } from './create-test-app';
import { CallbackName, cyberAppAuth, envelope, EnvelopeOptions } from './protocol';

export interface Credentials {
  login: string;
  password: string;
}

/** Sends one callback as the platform would, authenticated as the given user. */
export function callback(
  t: TestApp,
  as: Credentials | null,
  name: CallbackName,
  payload?: Record<string, unknown>,
  options: EnvelopeOptions = {},
): request.Test {
  const req = request(t.server).post('/callback');
  if (as) req.set('X-CyberApp-Auth', cyberAppAuth(as.login, as.password));
  return req.send(envelope(name, payload, options));
}

/** The protocol's error envelope with the given status code string. */
export function errorEnvelope(code: string, requestId?: string): Record<string, unknown> {
  return {
    ...(requestId ? { request_id: requestId } : {}),
    response_id: expectUuid(),
    err_message: expectString(),
    message: expectString(),
    code,
  };
}

function expectUuid(): unknown {
  return expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
}

function expectString(): unknown {
  return expect.any(String);
}
