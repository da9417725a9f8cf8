import { existsSync, mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../process/service-process';
import { createTestDatabase, TEST_DATABASE_URL, TEST_DB } from '../setup/test-database';
import { ROOT_DIR, runProcess } from './cli-process';

jest.setTimeout(600_000);

/** Every npm script that runs a command line, what its `--help` must show. */
const SCRIPTS: Array<[string, Array<string | RegExp>]> = [
  ['cli', ['Usage: cli [options] [command]', /seed \[options\]/, /import-sample /, /connector /, /migrate /, /user /, /webhooks /, /hooks /]],
  ['seed', ['Usage: cli seed [options]', '-l, --login <login>', '-p, --password <password>', '--reset-password']],
  ['import-sample', ['Usage: cli import-sample [options]', '--db <path>', '--connector <path>', '--dry-run', '--force']],
  ['migrate', ['Usage: cli migrate [options]', 'Apply pending database migrations']],
  ['user', ['Usage: cli user [options] [command]', 'add [options] <login>', 'passwd [options] <login>', 'remove <login>']],
  ['webhooks', ['Usage: cli webhooks [options] [command]', /redeliver /, /test /]],
  ['hooks', ['Usage: cli hooks [options] [command]', /mock /, /test /]],
  ['connector:run', ['Usage: cli connector run [options]', '-w, --wait <seconds>']],
  [
    'action-handler',
    ['Usage: action-handler [options]', '--url <url>', '--token <token>', '--ledger <file>', '--config <file>', '--map <capability=command>', '--timeout <ms>', '--heartbeat <ms>'],
  ],
];

/**
 * The longest `npm run <script> -- --help` may take on a quiet machine, npm's own start included.
 * Measured against a same-run baseline, npm starting and doing nothing else (`npm pkg get name`),
 * so that a loaded machine slows both: what the command adds to npm's start must stay under
 * HELP_OWN_BUDGET_MS, or twice npm's start when that is longer. On a quiet machine npm starts in
 * about 200 ms and the help adds well under 100 ms; a help that boots Nest or ts-node adds seconds.
 */
const HELP_BUDGET_MS = 1500;
const HELP_OWN_BUDGET_MS = HELP_BUDGET_MS - 300;

/** Settings under which a command would touch a database: help must not. */
function untouchableDatabase(dir: string, pgPort: number): Record<string, string> {
  return { SQLITE_PATH: join(dir, 'not-created', 'gateway.db'), DATABASE_URL: `postgres://nobody@127.0.0.1:${pgPort}/none`, DATABASE_CONNECT_TIMEOUT_MS: '5000' };
}

/** `npm <args…>`, timed. */
async function npmCommand(args: string[], env: Record<string, string>): Promise<Awaited<ReturnType<typeof runProcess>> & { ms: number }> {
  const started = process.hrtime.bigint();
  const outcome = await runProcess('npm', args, env);
  return { ...outcome, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

/** `npm run -s <script> -- args…`, timed. */
function npmRun(script: string, args: string[], env: Record<string, string>): ReturnType<typeof npmCommand> {
  return npmCommand(['run', '-s', script, '--', ...args], env);
}

/**
 * The command lines as their users run them: `npm run <script>` runs the compiled code once
 * `npm run build` has made it, and `--help` answers from the help text stored by the build, in
 * well under 1.5 s on a quiet machine, without opening any database.
 */
describe('npm run <command> -- --help, after npm run build', () => {
  let dir: string;
  let env: Record<string, string>;
  const measured: Record<string, number> = {};
  /** npm starting and doing nothing else, best of 3: the same-run baseline. */
  let npmStartMs = Infinity;

  beforeAll(async () => {
    const build = await runProcess('npm', ['run', '-s', 'build'], {}, 540_000);
    expect({ code: build.code, stderr: build.stderr }).toEqual({ code: 0, stderr: '' });
    expect(existsSync(join(ROOT_DIR, 'dist/src/cli/cli-help.json'))).toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'gateway-help-'));
    env = untouchableDatabase(dir, await freePort());
    for (let i = 0; i < 3; i++) npmStartMs = Math.min(npmStartMs, (await npmCommand(['pkg', 'get', 'name'], env)).ms);
  });

  afterAll(() => {
    process.stdout.write(`--help times (best of 3, ms): ${JSON.stringify(measured)}; npm's own start (npm pkg get name): ${Math.round(npmStartMs)} ms\n`);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(SCRIPTS)('npm run %s -- --help shows its options fast (1.5 s on a quiet machine, against npm\'s own start)', async (script, expected) => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const run = await npmRun(script, ['--help'], env);
      expect({ code: run.code, stderr: run.stderr, settings: run.settings }).toEqual({ code: 0, stderr: '', settings: [] });
      for (const text of expected) expect(run.stdout).toMatch(text);
      best = Math.min(best, run.ms);
    }
    measured[script] = Math.round(best);
    expect(best - npmStartMs).toBeLessThan(Math.max(HELP_OWN_BUDGET_MS, 2 * npmStartMs));
    expect(existsSync(join(dir, 'not-created'))).toBe(false);
  });

  it('answers the help of a subcommand, and `help <command>`, the same way', async () => {
    const add = await npmRun('user', ['add', '--help'], env);
    expect(add).toMatchObject({ code: 0, stderr: '' });
    expect(add.stdout).toContain('Usage: cli user add [options] <login>');
    expect(add.stdout).toContain('--organization <id>');
    const viaHelp = await npmRun('cli', ['help', 'migrate'], env);
    expect(viaHelp).toMatchObject({ code: 0, stderr: '' });
    expect(viaHelp.stdout).toBe((await npmRun('migrate', ['--help'], env)).stdout);
  });

  it('runs the sources (under ts-node) when dist/ is older than them, and says so', async () => {
    const compiled = join(ROOT_DIR, 'dist/src/cli/cli.js');
    const { atime, mtime } = statSync(compiled);
    utimesSync(compiled, atime, new Date(0));
    try {
      const run = await npmRun('migrate', ['--help'], env);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('dist/ is older than the sources: running them under ts-node (npm run build starts faster)\n');
      expect(run.stdout).toContain('Usage: cli migrate [options]');
    } finally {
      utimesSync(compiled, atime, mtime);
    }
  });
});

/** A command names the database and env file it works with, without a password, before it starts. */
describe('npm run <command> names its settings', () => {
  const ENV_FILE = '/nonexistent/gateway.env';

  it('names the test database it migrates', async () => {
    const db = await createTestDatabase();
    try {
      const run = await runProcess('npm', ['run', '-s', 'migrate'], { ...db.env, ENV_FILE });
      expect(run).toMatchObject({ code: 0, stderr: '' });
      const pg = new URL(TEST_DATABASE_URL);
      const where =
        TEST_DB === 'postgres'
          ? `PostgreSQL ${pg.username}@${pg.hostname}:${pg.port || '5432'}${pg.pathname} (schema ${db.env.DATABASE_SCHEMA})`
          : `SQLite ${db.env.SQLITE_PATH}`;
      expect(run.settings).toEqual([`cyberapp-gateway: database ${where}; env file ${ENV_FILE} (none)`]);
    } finally {
      await db.drop();
    }
  });

  it('never shows the password, and gives up on a PostgreSQL that does not answer after DATABASE_CONNECT_TIMEOUT_MS', async () => {
    const port = await freePort();
    const run = await runProcess('npm', ['run', '-s', 'user', '--', 'remove', 'nobody'], {
      DATABASE_URL: `postgres://gateway:secret-pw@127.0.0.1:${port}/gateway`,
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      ENV_FILE,
    });
    expect(run.settings).toEqual([`cyberapp-gateway: database PostgreSQL gateway@127.0.0.1:${port}/gateway; env file ${ENV_FILE} (none)`]);
    expect(run).toMatchObject({
      code: 1,
      stderr: `PostgreSQL gateway@127.0.0.1:${port}/gateway did not accept a connection within 1000 ms (DATABASE_CONNECT_TIMEOUT_MS): connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
    expect(run.stdout + run.stderr + run.settings.join('\n')).not.toContain('secret-pw');
  });
});
