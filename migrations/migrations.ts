import { InitialSchema1732400000000 } from './1732400000000-InitialSchema';

/** Every migration in order; one set for SQLite and PostgreSQL. */
export const MIGRATIONS = [InitialSchema1732400000000];
