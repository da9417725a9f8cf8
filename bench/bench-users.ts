/**
 * The users of the bench's mapped customer, shared by the seed (what the gateway reads from its
 * database) and the bare POST baseline (a constant list), so that both answer lists of the same
 * size: the same names and emails, different random uuids of the same length.
 */
import { randomUUID } from 'node:crypto';

export const USERS_IN_MAPPED_ORG = 50;

export interface BenchUser {
  id: string;
  name: string;
  email: string;
}

/** The i-th user (from 1): `bench.user01`, `bench.user01@bench.example`, a fresh uuid. */
export function benchUser(i: number): BenchUser {
  const name = `bench.user${String(i).padStart(2, '0')}`;
  return { id: randomUUID(), name, email: `${name}@bench.example` };
}

/** The mapped customer's users, in the order the gateway answers them (by name). */
export function benchUsers(): BenchUser[] {
  return Array.from({ length: USERS_IN_MAPPED_ORG }, (_, i) => benchUser(i + 1));
}
