import type { AddressInfo } from 'node:net';
import { createHandlerSetup, HandlerSetup } from '../factories/actions';
import { createTree, Tree } from '../factories/organizations';
import { cyberAppAuth } from '../setup/protocol';
import { createTestApp, TestApp } from '../setup/create-test-app';

export interface ActionTestApp extends TestApp {
  port: number;
  tree: Tree;
  setup: HandlerSetup;
  /** `X-CyberApp-Auth` of the partner's user. */
  auth: string;
}

/** The real app listening on 127.0.0.1:0 (WebSockets need a real port), with a tree and a handler serving ExecuteCommand in the partner. */
export async function createActionTestApp(env: Record<string, string> = {}): Promise<ActionTestApp> {
  const t = await createTestApp({ ACTIONS_POLL_MS: '100', ...env });
  await t.app.listen(0, '127.0.0.1');
  const port = (t.app.getHttpServer().address() as AddressInfo).port;
  const tree = await createTree(t.dataSource);
  const setup = await createHandlerSetup(t.dataSource, tree.partner.id);
  return { ...t, port, tree, setup, auth: cyberAppAuth('partner', tree.password) };
}
