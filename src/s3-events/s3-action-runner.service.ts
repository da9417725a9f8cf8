import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { accessSync, constants } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { delimiter, join } from 'node:path';
import { s3EventsConfig, S3EventsConfig } from '../config/s3-events.config';
import { UrlPolicy } from '../webhooks/url-policy';
import { S3Action, S3CommandAction, S3Endpoint, S3Operation, S3ReplicateAction } from './s3-action.types';
import type { S3ActionAttempt } from './s3-action-attempt.entity';
import { CommandLauncher } from './s3-command-launcher';

/** The object event an action runs for. */
export interface ActionTarget {
  /** The inbox record's id. */
  recordId: string;
  bucket: string;
  key: string;
  operation: S3Operation;
  eventName: string;
  sequencer: string;
  etag: string | null;
}

/** What one run of one action did: the columns of its attempt. */
export type ActionResult = Pick<S3ActionAttempt, 'success' | 'startedAt' | 'durationMs' | 'exitCode' | 'stdout' | 'stderr' | 'error' | 'note'>;

/** Environment variables a command inherits from the gateway: the basics and the AWS CLI's own, never the gateway's secrets. */
const INHERITED_ENV = /^(PATH|HOME|LANG|LC_[A-Z]+|TZ|TMPDIR|AWS_[A-Z0-9_]+)$/;
const MAX_ERROR = 2000;

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const statusOf = (error: unknown): number | undefined => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
/** The object is not there (HeadObject answers a bare 404 `NotFound`); a missing bucket (`NoSuchBucket`) is a failure. */
const isMissing = (error: unknown): boolean => {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
};
const describe = (error: unknown): string => {
  const e = error as { name?: string; message?: string };
  const status = statusOf(error);
  const message = (e.message ?? String(error)).split('WEBHOOKS_ALLOWED_PRIVATE').join('S3_EVENTS_ALLOWED_PRIVATE');
  return `${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${message}`.slice(0, MAX_ERROR);
};

/**
 * Runs one action for one object event. Never throws: every failure is a result.
 * - `command`: `argv... <bucket> <key> <copy|delete>` without a shell, in its own process group
 *   (started by {@link CommandLauncher}), with a timeout (SIGKILL to the group), stdout and stderr
 *   truncated; under `setpriv --pdeathsig KILL` when available, so that a command dies with the
 *   launcher; the launcher kills every group it started when the gateway goes away.
 * - `replicate`: created => CopyObject (same endpoint) or GetObject + PutObject (a `source` endpoint);
 *   removed => HeadObject on the source first: if the object is there again, the delete is skipped.
 */
@Injectable()
export class S3ActionRunner implements OnApplicationShutdown {
  private readonly setpriv: string | null;
  private readonly launcher = new CommandLauncher();
  /** The address policy the endpoints were saved under, applied again on every connection (DNS rebinding, a narrowed allow-list). */
  private readonly urls: UrlPolicy;

  constructor(@Inject(s3EventsConfig.KEY) private readonly config: S3EventsConfig) {
    this.setpriv = config.commandDieWithWorker && process.platform === 'linux' ? findOnPath('setpriv') : null;
    this.urls = new UrlPolicy(config.allowedPrivate);
  }

  onApplicationShutdown(): void {
    this.launcher.stop();
  }

  /** `signal`: abort to cut the action short (its record's claim was lost): the command is killed, the S3 request aborted. */
  async run(action: S3Action, target: ActionTarget, signal?: AbortSignal): Promise<ActionResult> {
    const startedAt = new Date();
    const began = performance.now();
    let result: Omit<ActionResult, 'startedAt' | 'durationMs'>;
    try {
      result = action.type === 'command' ? await this.command(action, target, signal) : await this.replicate(action, target, signal);
    } catch (error) {
      result = { success: false, exitCode: null, stdout: null, stderr: null, error: describe(error), note: null };
    }
    return { ...result, startedAt, durationMs: Math.round(performance.now() - began) };
  }

  private async command(action: S3CommandAction, target: ActionTarget, cut?: AbortSignal): Promise<Omit<ActionResult, 'startedAt' | 'durationMs'>> {
    // Checked when the source was saved, and again here: narrowing S3_EVENTS_ALLOWED_COMMANDS must stop stored actions too.
    if (!this.config.allowedCommands.includes(action.command[0])) {
      return { success: false, exitCode: null, stdout: null, stderr: null, error: `${action.command[0]} is not listed in S3_EVENTS_ALLOWED_COMMANDS`.slice(0, MAX_ERROR), note: null };
    }
    const argv = [...action.command, target.bucket, target.key, target.operation];
    const [file, args] = this.setpriv ? [this.setpriv, ['--pdeathsig', 'KILL', '--', ...argv]] : [argv[0], argv.slice(1)];
    const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => INHERITED_ENV.test(e[0]) && e[1] !== undefined));
    Object.assign(env, {
      // Stable across retries and re-runs after a crash: lets a command skip work it has already done.
      S3_EVENT_ID: target.recordId,
      S3_EVENT_BUCKET: target.bucket,
      S3_EVENT_KEY: target.key,
      S3_EVENT_OPERATION: target.operation,
      S3_EVENT_NAME: target.eventName,
      S3_EVENT_SEQUENCER: target.sequencer,
      S3_EVENT_ETAG: target.etag ?? '',
    });
    const timeoutMs = action.timeout_ms ?? this.config.actionTimeoutMs;
    const result = await this.launcher.run({ file, args, env, timeoutMs, limit: this.config.outputLimit }, cut);
    const error = result.spawnError
      ? `could not start ${argv[0]}: ${result.spawnError}`
      : result.timedOut
        ? `timed out after ${timeoutMs} ms (killed)`
        : result.code !== 0
          ? result.signal
            ? `killed by ${result.signal}`
            : `exit code ${result.code}`
          : null;
    return {
      success: error === null,
      exitCode: result.code,
      stdout: result.stdout,
      stderr: result.stderr,
      error: error?.slice(0, MAX_ERROR) ?? null,
      note: null,
    };
  }

  private async replicate(action: S3ReplicateAction, target: ActionTarget, cut?: AbortSignal): Promise<Omit<ActionResult, 'startedAt' | 'durationMs'>> {
    const timeoutMs = action.timeout_ms ?? this.config.actionTimeoutMs;
    for (const endpoint of action.source ? [action, action.source] : [action]) this.urls.checkAddressLiteral(new URL(endpoint.endpoint).hostname);
    const targetClient = this.clientFor(action);
    const sourceClient = action.source ? this.clientFor(action.source) : targetClient;
    const signal = () => ({ abortSignal: cut ? AbortSignal.any([AbortSignal.timeout(timeoutMs), cut]) : AbortSignal.timeout(timeoutMs) });
    const done = (note: string | null) => ({ success: true, exitCode: null, stdout: null, stderr: null, error: null, note });
    try {
      if (target.operation === S3Operation.Delete) {
        try {
          await sourceClient.send(new HeadObjectCommand({ Bucket: target.bucket, Key: target.key }), signal());
          return done('kept: the object exists in the source bucket again');
        } catch (error) {
          if (!isMissing(error)) throw error;
        }
        await targetClient.send(new DeleteObjectCommand({ Bucket: action.bucket, Key: target.key }), signal());
        return done(null);
      }
      if (!action.source) {
        const copySource = `${target.bucket}/${target.key.split('/').map(encodeURIComponent).join('/')}`;
        try {
          await targetClient.send(new CopyObjectCommand({ Bucket: action.bucket, Key: target.key, CopySource: copySource }), signal());
        } catch (error) {
          if (isMissing(error)) return done('skipped: the object is gone from the source bucket');
          throw error;
        }
        return done(null);
      }
      let object;
      try {
        object = await sourceClient.send(new GetObjectCommand({ Bucket: target.bucket, Key: target.key }), signal());
      } catch (error) {
        if (isMissing(error)) return done('skipped: the object is gone from the source bucket');
        throw error;
      }
      if ((object.ContentLength ?? 0) > this.config.replicateMaxBytes) {
        object.Body?.transformToWebStream().cancel().catch(() => undefined);
        throw new Error(`the object has ${object.ContentLength} bytes, more than S3_EVENTS_REPLICATE_MAX_BYTES`);
      }
      const body = object.Body ? await object.Body.transformToByteArray() : new Uint8Array();
      await targetClient.send(
        new PutObjectCommand({ Bucket: action.bucket, Key: target.key, Body: body, ContentType: object.ContentType, Metadata: object.Metadata }),
        signal(),
      );
      return done(null);
    } finally {
      targetClient.destroy();
      if (sourceClient !== targetClient) sourceClient.destroy();
    }
  }

  private clientFor(endpoint: S3Endpoint): S3Client {
    const { lookup } = this.urls;
    return new S3Client({
      endpoint: endpoint.endpoint,
      region: endpoint.region,
      forcePathStyle: endpoint.force_path_style,
      credentials: { accessKeyId: endpoint.access_key_id, secretAccessKey: endpoint.secret_access_key },
      // Retries are the inbox worker's, with its backoff and its record of every attempt.
      maxAttempts: 1,
      // The address connected to is the address checked (destroyed with the client).
      requestHandler: { httpAgent: new HttpAgent({ lookup }), httpsAgent: new HttpsAgent({ lookup }) },
    });
  }
}
