import { createHash, randomBytes } from 'node:crypto';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** A new path token: 32 random bytes, base64url (43 characters). */
export const generateToken = (): string => randomBytes(32).toString('base64url');

/** What is stored and looked up: the token's SHA-256 in hex. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Whether the string can be a token at all (anything else is unknown without a query). */
export const isTokenShaped = (token: string): boolean => TOKEN_SHAPE.test(token);

export const intakePath = (token: string): string => `/s3-events/${token}`;
