import { Injectable } from '@nestjs/common';
import { Lease } from './lease.entity';
import { TransactionRunner } from './transaction-runner.service';
import { isUniqueViolation } from './unique-violation';

/**
 * Named, expiring leases in the `leases` table: whoever holds one may run the job it names until
 * it expires, and renews it while running. Portable: a conditional UPDATE takes over an expired
 * (or our own) lease, an INSERT creates a missing one, and a unique violation on that INSERT
 * means another holder got there first.
 *
 * Times are the holders' clocks (replicas are expected to run NTP; skew only shortens or lengthens
 * a lease by that much). Dates always cross the driver boundary as bound `Date` parameters through
 * TypeORM: on SQLite it turns them into the same `YYYY-MM-DD HH:MM:SS.SSS` UTC text it stores, so
 * the text comparison is a time comparison; on PostgreSQL they are `timestamptz` values.
 */
@Injectable()
export class LeaseService {
  constructor(private readonly transactions: TransactionRunner) {}

  /** Takes the lease when it is free, expired or already ours; true when `holder` now holds it for `ttlMs`. */
  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = new Date();
    const expiresAt = new Date(now.getTime() + ttlMs);
    const taken = await this.transactions.run(async (em) => {
      const result = await em
        .createQueryBuilder()
        .update(Lease)
        .set({ holder, expiresAt })
        .where('name = :name AND (expires_at < :now OR holder = :holder)', { name, now, holder })
        .execute();
      return (result.affected ?? 0) > 0;
    });
    if (taken) return true;
    try {
      // Its own transaction: on PostgreSQL a failed statement spoils the transaction it is in.
      await this.transactions.run((em) => em.insert(Lease, { name, holder, expiresAt }));
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** Extends a lease `holder` still holds; false when it was lost (taken over after expiring, or released). */
  async renew(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const expiresAt = new Date(Date.now() + ttlMs);
    return this.transactions.run(async (em) => {
      const result = await em.createQueryBuilder().update(Lease).set({ expiresAt }).where('name = :name AND holder = :holder', { name, holder }).execute();
      return (result.affected ?? 0) > 0;
    });
  }

  /** Gives the lease up so that another holder can take it at once; a lease held by someone else is left alone. */
  async release(name: string, holder: string): Promise<void> {
    await this.transactions.run((em) => em.createQueryBuilder().delete().from(Lease).where('name = :name AND holder = :holder', { name, holder }).execute());
  }

  /** The lease as stored, or null when nobody has taken it. */
  current(name: string): Promise<Lease | null> {
    return this.transactions.run((em) => em.findOne(Lease, { where: { name } }));
  }
}
