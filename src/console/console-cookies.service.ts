import { Signer } from '@fastify/cookie';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { consoleConfig, ConsoleConfig } from '../config/console.config';

const COOKIE_PATH = '/console';
/** Cookie values the console writes: base64url tokens and their signature (no quoting or encoding needed). */
const VALUE = /^[A-Za-z0-9._~+/-]{1,512}$/;

/**
 * The console's cookies: signed with CONSOLE_COOKIE_SECRET (the first key signs, every key
 * verifies; @fastify/cookie's Signer), HttpOnly, SameSite=Strict, path /console, Secure as
 * CONSOLE_COOKIE_SECURE says. Read from the Cookie header here rather than by @fastify/cookie's
 * plugin: the console's few cookies need no parser on every other request of the service (and the
 * plugin loads its parser as an ES module, which Jest cannot).
 */
@Injectable()
export class ConsoleCookies {
  private readonly signer: Signer;

  constructor(@Inject(consoleConfig.KEY) private readonly config: ConsoleConfig) {
    if (config.cookieSecrets.length === 0) {
      new Logger(ConsoleCookies.name).warn('CONSOLE_COOKIE_SECRET is not set: console sessions end when this process stops and work only on this replica.');
    }
    this.signer = new Signer(config.cookieSecrets.length > 0 ? config.cookieSecrets : [randomBytes(32).toString('base64')]);
  }

  /** The value of a cookie whose signature verifies; null when absent, malformed or forged. */
  read(request: FastifyRequest, name: string): string | null {
    const raw = cookieValue(request.headers.cookie, name);
    if (raw === null || !VALUE.test(raw)) return null;
    const unsigned = this.signer.unsign(raw);
    return unsigned.valid && unsigned.value !== null ? unsigned.value : null;
  }

  /** Sets a signed cookie; a browser-session cookie unless `maxAgeSeconds`. */
  set(request: FastifyRequest, reply: FastifyReply, name: string, value: string, maxAgeSeconds?: number): void {
    const attributes = maxAgeSeconds === undefined ? '' : `; Max-Age=${maxAgeSeconds}`;
    void reply.header('set-cookie', `${name}=${this.signer.sign(value)}${this.attributes(request)}${attributes}`);
  }

  clear(request: FastifyRequest, reply: FastifyReply, name: string): void {
    void reply.header('set-cookie', `${name}=${this.attributes(request)}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`);
  }

  private attributes(request: FastifyRequest): string {
    return `; Path=${COOKIE_PATH}; HttpOnly; SameSite=Strict${this.secure(request) ? '; Secure' : ''}`;
  }

  /** `auto`: Secure when the request came over https (TLS here, or X-Forwarded-Proto from a TRUST_PROXY proxy). */
  private secure(request: FastifyRequest): boolean {
    if (this.config.cookieSecure === 'always') return true;
    if (this.config.cookieSecure === 'never') return false;
    return request.protocol === 'https';
  }
}

/** The first value of the named cookie in a Cookie header (RFC 6265: `name=value; name2=value2`). */
function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return null;
}
