import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { ActionApplicability } from '../../src/actions/action-applicability.entity';
import { ActionCapability } from '../../src/actions/action-capability.entity';
import { ActionHandler } from '../../src/actions/action-handler.entity';
import { hashToken, TOKEN_PREFIX } from '../../src/actions/action-handlers.service';

export interface HandlerSetup {
  handler: ActionHandler;
  token: string;
  capability: ActionCapability;
  applicability: ActionApplicability;
}

/** A handler credential inserted directly; returns it with its token. */
export async function createActionHandler(ds: DataSource, organizationId: string, name = `handler-${randomUUID().slice(0, 8)}`): Promise<{ handler: ActionHandler; token: string }> {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const handler = Object.assign(new ActionHandler(), {
    id: randomUUID(),
    organizationId,
    name,
    tokenHash: hashToken(token),
    createdBy: null,
    createdAt: new Date(),
    revokedAt: null,
    lastSeenAt: null,
  });
  await ds.manager.insert(ActionHandler, { ...handler });
  return { handler, token };
}

export async function createCapability(
  ds: DataSource,
  organizationId: string,
  input: { name?: string; mandatory?: string[]; optional?: string[] } = {},
): Promise<ActionCapability> {
  const now = new Date();
  const capability = Object.assign(new ActionCapability(), {
    id: randomUUID(),
    organizationId,
    name: input.name ?? 'ExecuteCommand',
    description: null,
    mandatoryParameters: input.mandatory ?? ['Command'],
    optionalParameters: input.optional ?? ['Host'],
    createdAt: now,
    updatedAt: now,
  });
  await ds.manager.insert(ActionCapability, { ...capability });
  return capability;
}

export async function createApplicability(ds: DataSource, handler: ActionHandler, capability: ActionCapability, parameters: Record<string, unknown> = {}): Promise<ActionApplicability> {
  const row = Object.assign(new ActionApplicability(), {
    id: randomUUID(),
    organizationId: handler.organizationId,
    handlerId: handler.id,
    capabilityId: capability.id,
    parameters,
    createdAt: new Date(),
  });
  await ds.manager.insert(ActionApplicability, { ...row } as QueryDeepPartialEntity<ActionApplicability>);
  return row;
}

/** A handler serving `ExecuteCommand` (mandatory `Command`, optional `Host`) in the organization. */
export async function createHandlerSetup(ds: DataSource, organizationId: string, capabilityName = 'ExecuteCommand'): Promise<HandlerSetup> {
  const { handler, token } = await createActionHandler(ds, organizationId);
  const capability = await createCapability(ds, organizationId, { name: capabilityName });
  const applicability = await createApplicability(ds, handler, capability);
  return { handler, token, capability, applicability };
}
