import { Command, CommandRunner, Help, Option } from 'nest-commander';
import { PasswordHasher } from '../auth/password-hasher.service';
import { ask, canPrompt } from './prompt';
import { SeedReport, SeedService } from './seed.service';

interface SeedOptions {
  login?: string;
  password?: string;
  resetPassword?: boolean;
}

const LOGIN = /^[^:\s]{1,255}$/;

const NO_TERMINAL = 'stdin is not a terminal, so it cannot be asked for';

const HELP = `
Creates the root organization "John Doe Inc." with its root user, five customer organizations
with one user each and five more users in the root organization (the Python sample's
create_db.py). Migrations are applied first.

Running it again changes nothing: rows that exist (by their fixed ids) are left as they are.
The root user's login and password are needed only while it does not exist: from the flags,
else SEED_ROOT_LOGIN / SEED_ROOT_PASSWORD, else asked for on the terminal. Once it exists, a
later run keeps its login and password; --reset-password replaces the password (asked for the
same way). Without a terminal and without credentials the command fails instead of waiting.
`;

/** `seed`: the sample data and the root user (docs/protocols.md). */
@Command({ name: 'seed', description: 'Create the root user and the sample organizations and users (idempotent)' })
export class SeedCommand extends CommandRunner {
  constructor(
    private readonly seeder: SeedService,
    private readonly hasher: PasswordHasher,
  ) {
    super();
  }

  async run(_params: string[], options: SeedOptions = {}): Promise<void> {
    const existingLogin = await this.seeder.rootLogin();
    const rootLogin = existingLogin === null ? await this.login(options.login) : undefined;
    const password = existingLogin === null || options.resetPassword ? await this.password(options.password, existingLogin !== null) : undefined;
    const report = await this.seeder.seed({
      rootLogin,
      rootPasswordHash: password === undefined ? undefined : await this.hasher.hash(password),
      resetPassword: options.resetPassword === true,
    });
    const ignoredLogin = existingLogin !== null && nonEmpty(options.login) && options.login.trim().toLowerCase() !== existingLogin;
    process.stdout.write(summary(this.seeder.describeDatabase(), report, ignoredLogin));
  }

  @Option({ flags: '-l, --login <login>', description: 'root user login, stored lower-case', env: 'SEED_ROOT_LOGIN' })
  parseLogin(value: string): string {
    return value;
  }

  @Option({
    flags: '-p, --password <password>',
    description: 'root user password (visible to other local users in the process list: prefer the variable or the prompt)',
    env: 'SEED_ROOT_PASSWORD',
  })
  parsePassword(value: string): string {
    return value;
  }

  @Option({ flags: '--reset-password', description: 'replace the password of an existing root user' })
  parseResetPassword(): boolean {
    return true;
  }

  @Help('after')
  help(): string {
    return HELP;
  }

  private async login(given: string | undefined): Promise<string> {
    const raw = nonEmpty(given)
      ? given
      : await this.obtain('Enter root username: ', false, 'The root user does not exist yet: pass --login or set SEED_ROOT_LOGIN');
    const login = raw.trim().toLowerCase();
    if (!LOGIN.test(login)) throw new Error('The root login must be 1 to 255 characters without ":" or white space.');
    return login;
  }

  private async password(given: string | undefined, resetting: boolean): Promise<string> {
    if (nonEmpty(given)) return given;
    const why = resetting ? '--reset-password needs the new password' : 'The root user does not exist yet';
    const password = await this.obtain('Enter password for root user: ', true, `${why}: pass --password or set SEED_ROOT_PASSWORD`);
    if (password === '') throw new Error('The root password must not be empty.');
    return password;
  }

  private obtain(question: string, hidden: boolean, why: string): Promise<string> {
    if (!canPrompt()) throw new Error(`${why} (${NO_TERMINAL}).`);
    return ask(question, { hidden });
  }
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

function summary(database: string, report: SeedReport, ignoredLogin: boolean): string {
  const { organizations, users, root } = report;
  const lines = [
    `Seeded ${database}:`,
    `  organizations: ${organizations.created.length} created, ${organizations.present.length} already present`,
    `  users: ${users.created.length} created, ${users.present.length} already present (besides the root user)`,
    `  root user "${root.login}": ${root.outcome === 'present' ? 'already present, password kept' : root.outcome}`,
  ];
  if (users.skipped.length > 0) lines.push(`  not created, login already taken by another user: ${users.skipped.join(', ')}`);
  if (ignoredLogin) lines.push(`  note: the root user exists with login "${root.login}"; the given login was not applied`);
  return `${lines.join('\n')}\n`;
}
