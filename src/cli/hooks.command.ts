import { InjectDataSource } from '@nestjs/typeorm';
import { Command, CommandRunner, Help, Option, SubCommand } from 'nest-commander';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { HookApprovalsService } from '../hooks/hook-approvals.service';
import { decisionView } from '../hooks/hook-decisions.service';
import { HOOK_OPERATIONS, HookDecisionOutcome } from '../hooks/hook-operation';
import { Organization } from '../organizations/organization.entity';
import { standardSignature } from '../webhooks/webhook-signer';
import { CommandGroup } from './command-group';

const MAX_BODY = 1024 * 1024;

interface MockOptions {
  port?: number;
  host?: string;
  rejectOperation?: string[];
  rejectIfInputContains?: string;
  secret?: string;
}

/**
 * `hooks mock`: a local hook server, like CCX's `mock-hooks`. Prints every hook it receives (one
 * JSON line each) and answers pre-hooks `{"approved": true, "work_id": "mock-…"}` unless a rule
 * rejects them; post-hooks get `{}`. Runs until interrupted.
 */
@SubCommand({ name: 'mock', description: 'Run a local hook server that prints each hook and approves or rejects by rule' })
export class HooksMockCommand extends CommandRunner {
  async run(_args: string[], options: MockOptions = {}): Promise<void> {
    const reject = new Set(options.rejectOperation ?? []);
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY) chunks.push(chunk);
      });
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const event = String(req.headers['x-cs-event'] ?? '');
        let parsed: { operation?: unknown; input?: unknown } = {};
        try {
          parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
        } catch {
          // Printed as received; a pre-hook without a readable operation is approved.
        }
        const answer = event.startsWith('post.') ? {} : this.decide(parsed, reject, options.rejectIfInputContains);
        const line: Record<string, unknown> = { at: new Date().toISOString(), event, webhook_id: req.headers['webhook-id'] ?? null, body: parsed, answer };
        if (options.secret) line.signature_valid = verify(options.secret, req.headers, body);
        process.stdout.write(`${JSON.stringify(line)}\n`);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8090, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address() as AddressInfo;
    process.stdout.write(`hooks mock listening on http://${address.address}:${address.port}/\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.stdout.write('hooks mock stopping\n');
        server.close(() => resolve());
        server.closeAllConnections();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  }

  private decide(hook: { operation?: unknown; input?: unknown }, reject: Set<string>, contains: string | undefined): Record<string, unknown> {
    const operation = typeof hook.operation === 'string' ? hook.operation : '';
    if (reject.has(operation)) return { approved: false, reason: `hooks mock rejects ${operation}` };
    if (contains !== undefined && JSON.stringify(hook.input ?? null).includes(contains)) {
      return { approved: false, reason: `hooks mock rejects input containing ${JSON.stringify(contains)}` };
    }
    return { approved: true, work_id: `mock-${randomUUID()}` };
  }

  @Option({ flags: '-p, --port <port>', description: 'port to listen on (default 8090; 0 picks a free one)' })
  parsePort(value: string): number {
    const port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0 to 65535');
    return port;
  }

  @Option({ flags: '--host <host>', description: 'address to listen on (default 127.0.0.1)' })
  parseHost(value: string): string {
    return value;
  }

  @Option({ flags: '--reject-operation <operation>', description: `reject pre-hooks of this operation (repeatable): ${HOOK_OPERATIONS.join(', ')}` })
  parseRejectOperation(value: string, previous: string[] = []): string[] {
    if (!(HOOK_OPERATIONS as string[]).includes(value)) throw new Error(`--reject-operation must be one of: ${HOOK_OPERATIONS.join(', ')}`);
    return [...previous, value];
  }

  @Option({ flags: '--reject-if-input-contains <text>', description: "reject pre-hooks whose input's JSON contains this text" })
  parseRejectIfInputContains(value: string): string {
    return value;
  }

  @Option({ flags: '--secret <secret>', description: "the hook's secret: each printed line then says whether the Standard Webhooks signature is valid" })
  parseSecret(value: string): string {
    return value;
  }
}

function verify(secret: string, headers: http.IncomingHttpHeaders, body: Buffer): boolean {
  const id = String(headers['webhook-id'] ?? '');
  const timestamp = Number(headers['webhook-timestamp']);
  if (id === '' || !Number.isInteger(timestamp)) return false;
  const expected = standardSignature(secret, id, timestamp, body);
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .includes(expected);
}

interface TestOptions {
  organization?: string;
  authId?: string;
}

/**
 * `hooks test <operation> '<json>'`: asks the pre-hooks registered for that operation on the
 * organization (as the operation itself would, decisions recorded), changes nothing else, and prints
 * the decisions. Exit 1 when they reject.
 */
@SubCommand({ name: 'test', arguments: '<operation> <input-json>', description: "Call the pre-hooks of an operation with that input and print the decisions" })
export class HooksTestCommand extends CommandRunner {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly approvals: HookApprovalsService,
  ) {
    super();
  }

  async run([operation, json]: string[], options: TestOptions = {}): Promise<void> {
    if (!(HOOK_OPERATIONS as string[]).includes(operation)) throw new Error(`<operation> must be one of: ${HOOK_OPERATIONS.join(', ')}`);
    let input: unknown;
    try {
      input = JSON.parse(json);
    } catch {
      throw new Error('<input-json> is not valid JSON');
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new Error('<input-json> must be a JSON object');
    if (!options.organization) throw new Error('--organization <id> is required: the organization the operation is for');
    if (!(await this.dataSource.getRepository(Organization).existsBy({ id: options.organization }))) {
      throw new Error(`No organization with id "${options.organization}".`);
    }
    const { approved, decisions } = await this.approvals.ask({
      operation: operation,
      organizationId: options.organization,
      authId: options.authId ?? 'cli',
      input: input as Record<string, unknown>,
    });
    process.stdout.write(`${JSON.stringify({ approved, decisions: decisions.map(decisionView) }, null, 2)}\n`);
    if (decisions.length === 0) process.stdout.write(`no enabled pre-hook is registered for ${operation} on this organization\n`);
    if (!approved) throw new Error(`rejected: ${decisions.filter((d) => d.outcome === HookDecisionOutcome.Rejected).map((d) => d.reason ?? d.errorClass ?? 'no reason').join('; ')}`);
  }

  @Option({ flags: '-o, --organization <id>', description: 'the organization the operation is for (required)' })
  parseOrganization(value: string): string {
    return value;
  }

  @Option({ flags: '--auth-id <login>', description: 'the auth_id the hooks see (default "cli")' })
  parseAuthId(value: string): string {
    return value;
  }

  @Help('after')
  help(): string {
    return `\nOperations: ${HOOK_OPERATIONS.join(', ')}.\nExample: hooks test user.create '{"login":"jane","name":"Jane","email":"jane@example.com"}' --organization <id>\n`;
  }
}

/** `hooks`: alone, it prints the help. */
@Command({ name: 'hooks', description: 'Approval hook tools (hooks mock | test)', subCommands: [HooksMockCommand, HooksTestCommand] })
export class HooksCommand extends CommandGroup {}
