import { sendError } from './protocol-exception.filter';
import type { FastifyReply, FastifyRequest } from 'fastify';

describe('sendError', () => {
  it("logs a database error without its bound parameters (they may hold passwords)", () => {
    const logged: unknown[] = [];
    const reply = { sent: false, status: () => reply, headers: () => reply, send: () => reply } as unknown as FastifyReply;
    const error = Object.assign(new Error('insert failed'), { parameters: ['secret-one-time-password'], query: 'INSERT …' });
    sendError(reply, { body: {}, id: 'r1' } as unknown as FastifyRequest, error, { error: (entry: unknown) => logged.push(entry) });
    const text = JSON.stringify(logged, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message } : v));
    expect(text).toContain('insert failed');
    expect(text).not.toContain('secret-one-time-password');
  });
});
