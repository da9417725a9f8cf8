import { Algorithm, hash, verify } from '@node-rs/argon2';
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { authConfig, AuthConfig } from '../config/auth.config';

/** argon2id hashing with `@node-rs/argon2`; verifies PHC strings from argon2-cffi as well. */
@Injectable()
export class PasswordHasher implements OnModuleInit {
  private dummyHash = '';

  constructor(@Inject(authConfig.KEY) private readonly config: AuthConfig) {}

  async onModuleInit(): Promise<void> {
    // Verified against when a login is unknown, so both failures cost about the same time.
    this.dummyHash = await this.hash(randomBytes(16).toString('hex'));
  }

  hash(password: string): Promise<string> {
    return hash(password, { algorithm: Algorithm.Argon2id, ...this.config.argon2 });
  }

  /** Verifies; never throws for a malformed stored hash (that is just a failed verification). */
  async verify(phc: string | null, password: string): Promise<boolean> {
    try {
      return await verify(phc ?? this.dummyHash, password);
    } catch {
      return false;
    }
  }

  /** A fresh one-time password: 24 characters of base64url (144 bits). */
  generatePassword(): string {
    return randomBytes(18).toString('base64url');
  }
}
