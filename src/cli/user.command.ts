import { Command, CommandRunner, Help, Option, SubCommand } from 'nest-commander';
import { DataSource } from 'typeorm';
import { InjectDataSource } from '@nestjs/typeorm';
import { PasswordHasher } from '../auth/password-hasher.service';
import { TransactionRunner } from '../database/transaction-runner.service';
import { Organization } from '../organizations/organization.entity';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { ask, canPrompt } from './prompt';
import { CommandGroup } from './command-group';

const LOGIN = /^[^:\s]{1,255}$/;

const CACHE_NOTE = `
A running service keeps verified credentials in memory for AUTH_CACHE_TTL_SECONDS (60 s by
default): a password changed or a user removed here stops working there within that time.`;

interface PasswordOptions {
  password?: string;
}

interface AddOptions extends PasswordOptions {
  organization?: string;
  name?: string;
  email?: string;
}

function normalizedLogin(raw: string | undefined): string {
  const login = (raw ?? '').trim().toLowerCase();
  if (!LOGIN.test(login)) throw new Error('A login is 1 to 255 characters without ":" or white space.');
  return login;
}

/** The password from the flag or USER_PASSWORD, else asked for twice on the terminal. */
async function obtainPassword(given: string | undefined): Promise<string> {
  if (given !== undefined && given !== '') return given;
  if (!canPrompt()) throw new Error('No password: pass --password or set USER_PASSWORD (stdin is not a terminal, so it cannot be asked for).');
  const first = await ask('Password: ', { hidden: true });
  const second = await ask('Repeat the password: ', { hidden: true });
  if (first !== second) throw new Error('The two passwords differ.');
  if (first === '') throw new Error('The password must not be empty.');
  return first;
}

abstract class UserSubCommand extends CommandRunner {
  constructor(
    @InjectDataSource() protected readonly dataSource: DataSource,
    protected readonly transactions: TransactionRunner,
    protected readonly users: UsersService,
    protected readonly hasher: PasswordHasher,
  ) {
    super();
  }

  protected async find(login: string): Promise<User> {
    const user = await this.dataSource.getRepository(User).findOneBy({ login });
    if (!user) throw new Error(`No user with login "${login}".`);
    return user;
  }
}

/** `user add <login> --organization <id>`: a user who can authenticate callbacks and the REST API. */
@SubCommand({ name: 'add', arguments: '<login>', description: 'Create a user with a password in an organization' })
export class UserAddCommand extends UserSubCommand {
  async run([rawLogin]: string[], options: AddOptions = {}): Promise<void> {
    const login = normalizedLogin(rawLogin);
    if (!options.organization) throw new Error('--organization <id> is required.');
    const organization = await this.dataSource.getRepository(Organization).findOneBy({ id: options.organization });
    if (!organization) throw new Error(`No organization with id "${options.organization}".`);
    const hash = await this.hasher.hash(await obtainPassword(options.password));
    const user = await this.transactions
      .run((em) =>
        this.users.create(em, organization.id, {
          login,
          name: options.name ?? login,
          email: options.email ?? '',
          password: hash,
        }),
      )
      .catch((error: unknown) => {
        throw error instanceof Error && /already exists/.test(error.message) ? new Error(`A user with login "${login}" already exists.`) : error;
      });
    process.stdout.write(`user "${user.login}" created (id ${user.id}) in "${organization.name}" (${organization.id})\n`);
  }

  @Option({ flags: '-p, --password <password>', description: 'the password (visible in the process list: prefer USER_PASSWORD or the prompt)', env: 'USER_PASSWORD' })
  parsePassword(value: string): string {
    return value;
  }

  @Option({ flags: '-o, --organization <id>', description: 'the organization the user belongs to (required)' })
  parseOrganization(value: string): string {
    return value;
  }

  @Option({ flags: '-n, --name <name>', description: 'display name (default: the login)' })
  parseName(value: string): string {
    return value;
  }

  @Option({ flags: '-e, --email <email>', description: 'e-mail address' })
  parseEmail(value: string): string {
    return value;
  }
}

/** `user passwd <login>`: set a user's password (argon2id). */
@SubCommand({ name: 'passwd', arguments: '<login>', description: "Set a user's password" })
export class UserPasswdCommand extends UserSubCommand {
  async run([rawLogin]: string[], options: PasswordOptions = {}): Promise<void> {
    const user = await this.find(normalizedLogin(rawLogin));
    const hash = await this.hasher.hash(await obtainPassword(options.password));
    await this.transactions.run((em) => this.users.setPassword(em, user, hash));
    process.stdout.write(`password of "${user.login}" set.${CACHE_NOTE}\n`);
  }

  @Option({ flags: '-p, --password <password>', description: 'the password (visible in the process list: prefer USER_PASSWORD or the prompt)', env: 'USER_PASSWORD' })
  parsePassword(value: string): string {
    return value;
  }

  @Help('after')
  help(): string {
    return CACHE_NOTE;
  }
}

/** `user remove <login>`. */
@SubCommand({ name: 'remove', arguments: '<login>', description: 'Delete a user' })
export class UserRemoveCommand extends UserSubCommand {
  async run([rawLogin]: string[]): Promise<void> {
    const user = await this.find(normalizedLogin(rawLogin));
    await this.transactions.run((em) => this.users.remove(em, user));
    process.stdout.write(`user "${user.login}" (${user.id}) removed\n`);
  }

  @Help('after')
  help(): string {
    return CACHE_NOTE;
  }
}

/** `user <subcommand>`: alone, it prints their list. */
@Command({ name: 'user', description: 'Manage users (user add | passwd | remove)', subCommands: [UserAddCommand, UserPasswdCommand, UserRemoveCommand] })
export class UserCommand extends CommandGroup {}
