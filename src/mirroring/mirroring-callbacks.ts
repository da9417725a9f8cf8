import type { CallbackHandlerOptions } from '../callbacks/callback-handler.decorator';

/** The versions the guide gives every mirroring callback: v2.0 ids, v1.1 request and response types. */
export const MIRRORING_VERSIONS: Pick<CallbackHandlerOptions, 'callbackVersion' | 'requestVersion' | 'responseVersion'> = {
  callbackVersion: 'v2.0',
  requestVersion: 'v1.1',
  responseVersion: 'v1.1',
};
