import type { ReceivedDelivery, ReceiverBehaviour, WebhookReceiver, WebhookReceiverOptions } from './webhook-receiver';
import { startWebhookReceiver } from './webhook-receiver';

/**
 * A real approval hook on 127.0.0.1: the webhook receiver (exact bytes, both signatures verified
 * independently) answering pre-hooks (`X-CS-Event: pre.…`) with `pre` and post-hooks with `post`.
 */
export interface HookServer extends WebhookReceiver {
  /** The pre-hook requests received so far. */
  readonly pres: ReceivedDelivery[];
  /** The post-hook requests received so far. */
  readonly posts: ReceivedDelivery[];
  /** How pre-hooks and post-hooks are answered from now on. */
  answer(pre: ReceiverBehaviour | ((d: ReceivedDelivery, i: number) => ReceiverBehaviour), post?: ReceiverBehaviour | ((d: ReceivedDelivery, i: number) => ReceiverBehaviour)): void;
  /** Resolves once `count` post-hooks have arrived. */
  waitForPosts(count: number, timeoutMs?: number): Promise<ReceivedDelivery[]>;
}

export const approve = (workId?: string): ReceiverBehaviour => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(workId === undefined ? { approved: true } : { approved: true, work_id: workId }),
});

export const reject = (reason?: string): ReceiverBehaviour => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(reason === undefined ? { approved: false } : { approved: false, reason }),
});

const isPre = (d: ReceivedDelivery): boolean => String(d.headers['x-cs-event'] ?? '').startsWith('pre.');

export async function startHookServer(options: WebhookReceiverOptions = {}): Promise<HookServer> {
  const receiver = await startWebhookReceiver(options);
  const server = receiver as HookServer;
  Object.defineProperty(server, 'pres', { get: () => receiver.received.filter(isPre) });
  Object.defineProperty(server, 'posts', { get: () => receiver.received.filter((d) => !isPre(d)) });
  server.answer = (pre, post = { status: 200, body: '{}' }) => {
    const choose = (b: typeof pre, d: ReceivedDelivery, i: number): ReceiverBehaviour => (typeof b === 'function' ? b(d, i) : b);
    let pres = 0;
    let posts = 0;
    receiver.setBehaviour((d) => (isPre(d) ? choose(pre, d, pres++) : choose(post, d, posts++)));
  };
  server.answer(approve());
  server.waitForPosts = async (count, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (server.posts.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${server.posts.length} of ${count} post-hooks within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return server.posts;
  };
  return server;
}
