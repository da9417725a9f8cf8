import type { ConsoleRequest } from './console-http';
import type { Viewer } from './views/layout';

/** The signed-in user of a request that passed ConsoleAuthGuard. */
export function viewerOf(request: ConsoleRequest): Viewer {
  const session = request.consoleSession;
  if (!session) throw new Error('viewerOf used on a route without ConsoleAuthGuard');
  return { caller: session.caller, csrfToken: session.csrfToken };
}
