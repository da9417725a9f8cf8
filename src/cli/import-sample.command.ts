import { Inject } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Command, CommandRunner, Help, Option } from 'nest-commander';
import { resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { envFilePath } from '../config/env-file';
import { planEnvValues, writeEnvValues, EnvTextUpdate } from '../config/env-file-update';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { datacenterUrlProblem, parseAllowedHosts } from '../connector/datacenter-policy';
import { describeDatabase } from '../database/describe-database';
import { TransactionRunner } from '../database/transaction-runner.service';
import { connectorEnvValues, readConnectorJson, SampleConnectorCredentials } from './sample-import/connector-json';
import { changeCount, conflicts, ImportPlan, SampleImportService, TablePlan } from './sample-import/sample-import.service';
import { readVendorDb, refusal, SampleData } from './sample-import/vendor-db';

interface ImportOptions {
  db?: string;
  connector?: string;
  envFile?: string;
  dryRun?: boolean;
  force?: boolean;
}

const HELP = `
Imports the Acronis CyberApp Python sample (cyberapp-sample-components): from its vendor.db the
organizations, users (their argon2 password hashes kept as they are: the same passwords sign in)
and tenant mappings; with --connector, connector.json's client_id, client_secret and dc_url into
the env file the service reads (ACRONIS_CLIENT_ID, ACRONIS_CLIENT_SECRET, ACRONIS_DC_URL; other
lines of the file are left as they are). Migrations are applied first, as by every command.

Everything is checked before anything is written, and written in one transaction: a file that is
not the sample's, or rows the gateway cannot hold (a NULL name, an unknown kind, a hash that is
not argon2, ...), are refused with a list, and nothing changes. Running it again changes nothing.

A row the gateway already holds with other values (by id; a mapping by organization or tenant;
a connector variable with another value) is a conflict: listed, and nothing is written, unless
--force, which replaces the gateway's values with the sample's. A login that belongs to another
user in the gateway is refused even then. Rows the sample does not have are left alone, but for
one case with --force: a gateway mapping of the tenant the sample maps elsewhere is removed.
--dry-run prints what would change, and whether it would be refused, and writes nothing.
`;

/** `import-sample --db vendor.db [--connector connector.json]`: migrate from the Python sample. */
@Command({ name: 'import-sample', description: "Import the Python sample's vendor.db (and connector.json): organizations, users, tenant mappings, connector credentials" })
export class ImportSampleCommand extends CommandRunner {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transactions: TransactionRunner,
    private readonly importer: SampleImportService,
    @Inject(connectorConfig.KEY) private readonly connector: ConnectorConfig,
  ) {
    super();
  }

  async run(_params: string[], options: ImportOptions = {}): Promise<void> {
    if (!options.db) throw new Error("--db <path> is required: the Python sample's SQLite database (vendor.db, made by its create_db.py).");
    const dbPath = resolve(options.db);
    const sample = await readVendorDb(dbPath);
    const credentials = options.connector ? readConnectorJson(resolve(options.connector)) : null;
    const envPath = resolve(options.envFile ?? envFilePath());
    const env = credentials ? planEnvValues(envPath, connectorEnvValues(credentials)) : null;
    const force = options.force === true;
    const dryRun = options.dryRun === true;

    const outcome = dryRun
      ? this.check(await this.importer.plan(this.dataSource.manager, sample), env, force)
      : await this.transactions.run(async (em) => {
          const plan = this.check(await this.importer.plan(em, sample), env, force);
          await this.importer.apply(em, plan, sample);
          // Last, inside the transaction: a failure to write the file rolls the import back.
          if (credentials) writeEnvValues(envPath, connectorEnvValues(credentials));
          return plan;
        });
    process.stdout.write(this.summary(dbPath, sample, outcome, env, credentials, dryRun));
  }

  /** The plan, if it may be carried out: throws (listing why) on what --force cannot resolve, and on conflicts without it. */
  private check(plan: ImportPlan, env: (EnvTextUpdate & { path: string }) | null, force: boolean): ImportPlan {
    if (plan.blocking.length > 0) {
      throw refusal("The sample's data cannot be imported into this gateway as it stands; nothing was written (--force does not change this):", plan.blocking);
    }
    const differ = [...conflicts(plan), ...(env?.replaced ?? []).map((key) => `${key} has another value in ${env?.path}`)];
    if (differ.length > 0 && !force) {
      throw refusal(
        "The gateway already holds other values for these rows of the sample; nothing was written. Run again with --force to replace them with the sample's:",
        differ,
      );
    }
    return plan;
  }

  private summary(
    dbPath: string,
    sample: SampleData,
    plan: ImportPlan,
    env: (EnvTextUpdate & { path: string }) | null,
    credentials: SampleConnectorCredentials | null,
    dryRun: boolean,
  ): string {
    const verb = (done: string, todo: string) => (dryRun ? todo : done);
    const table = (name: string, t: TablePlan<unknown>, extra = '') =>
      `  ${name}: ${t.create.length} ${verb('created', 'to create')}, ${t.update.length} ${verb('updated', 'to update')}, ${t.unchanged} unchanged${extra}`;
    const withPassword = sample.users.filter((u) => u.password !== null).length;
    const moved = plan.mappings.moved.length;
    const lines = [
      `${dryRun ? 'Dry run: importing' : 'Imported'} ${dbPath} into ${describeDatabase(this.dataSource)}`,
      table('organizations', plan.organizations),
      table('users', plan.users, ` (${withPassword} of ${sample.users.length} with a password, kept as it was hashed)`),
      table('tenant mappings', plan.mappings, moved > 0 ? `, ${moved} ${verb('moved from', 'to move from')} another organization` : ''),
    ];
    const envChanges = env ? env.added.length + env.replaced.length : 0;
    if (env && credentials) {
      const keys = [...env.added, ...env.replaced];
      lines.push(
        keys.length > 0
          ? `  connector credentials: ${keys.join(', ')} ${verb('written to', 'to write to')} ${env.path}`
          : `  connector credentials: already in ${env.path}`,
      );
      if (keys.length > 0) lines.push('  note: the service reads the env file when it starts: restart it for the connector to use these');
      lines.push(...this.environmentOverrides(env, credentials));
    }
    lines.push(...this.datacenterWarnings(sample, credentials));
    lines.push(...sample.notes.map((n) => `  note: ${n}`));
    if (!dryRun && plan.users.update.length > 0) {
      lines.push('  note: a running service keeps verified credentials for AUTH_CACHE_TTL_SECONDS (60 s by default): replaced passwords stop working there within that time');
    }
    const total = changeCount(plan) + envChanges;
    lines.push(
      dryRun
        ? `${total} ${total === 1 ? 'change' : 'changes'} would be made; nothing was written.`
        : total === 0
          ? '0 changes: everything was already imported.'
          : `${total} ${total === 1 ? 'change' : 'changes'}.`,
    );
    return `${lines.join('\n')}\n`;
  }

  /** A variable set in the environment wins over the env file, in this command and in the service. */
  private environmentOverrides(env: EnvTextUpdate & { path: string }, credentials: SampleConnectorCredentials): string[] {
    // process.env holds the env file's values too (loaded at start): only another value came from the environment.
    return Object.entries(connectorEnvValues(credentials))
      .filter(([key, value]) => process.env[key] !== undefined && process.env[key] !== value && process.env[key] !== env.previous[key])
      .map(([key]) => `  warning: ${key} is set in the environment, which wins over ${env.path}: unset it for the imported value to apply`);
  }

  /** Mappings whose data center the connector would refuse to call with the current ACRONIS_DC_ALLOWED_HOSTS. */
  private datacenterWarnings(sample: SampleData, credentials: SampleConnectorCredentials | null): string[] {
    const allowed = [...this.connector.allowedDcHosts];
    if (credentials) {
      const dc = new URL(credentials.dc_url);
      allowed.push(...parseAllowedHosts(`${dc.protocol === 'http:' ? 'http://' : ''}${dc.hostname}`));
    }
    return sample.mappings.flatMap((m) => {
      const problem = m.acronisDcUrl === null ? null : datacenterUrlProblem(m.acronisDcUrl, allowed);
      return problem ? [`  warning: tenant mapping of organization ${m.organizationId}: ${problem}; the connector will not send there until it is allowed`] : [];
    });
  }

  @Option({ flags: '--db <path>', description: "the Python sample's SQLite database (vendor.db); required" })
  parseDb(value: string): string {
    return value;
  }

  @Option({ flags: '--connector <path>', description: "the sample's connector.json: its credentials go to the env file" })
  parseConnector(value: string): string {
    return value;
  }

  @Option({ flags: '--env-file <path>', description: 'the env file to write the connector credentials to (default: ENV_FILE, else .env)' })
  parseEnvFile(value: string): string {
    return value;
  }

  @Option({ flags: '--dry-run', description: 'print what would change; write nothing' })
  parseDryRun(): boolean {
    return true;
  }

  @Option({ flags: '--force', description: "replace the gateway's values where they differ from the sample's" })
  parseForce(): boolean {
    return true;
  }

  @Help('after')
  help(): string {
    return HELP;
  }
}
