import { v5 as uuidv5 } from 'uuid';
import type { EntityManager } from 'typeorm';
import type { WorkloadBody } from './acronis-api.types';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { ConnectorItem, ConnectorItemKind } from './connector-item.entity';
import { itemFingerprint } from './connector-items.service';
import { ConnectorWorkload } from './connector-workload.entity';
import { newRowId } from '../common/ids';

/** Rows per INSERT: well under both databases' bound-parameter limits. */
const ROWS_PER_INSERT = 100;
/**
 * The namespace of the alert ids the connector chooses (UUIDv5 of the item id): fixed forever, so
 * that an item's alert id never changes between releases, and a repeat is recognisable.
 */
const ALERT_ID_NAMESPACE = '8f9c2d7e-3b1a-5c4e-9d6f-0a1b2c3d4e5f';

/** The Acronis alert id of the alert an item creates. */
export function alertIdOf(itemId: string): string {
  return uuidv5(itemId, ALERT_ID_NAMESPACE);
}

/** The workload as sent: the vendor's attributes plus the key attribute the gateway controls. */
export function workloadToSend(body: WorkloadBody, keyAttribute: string): WorkloadBody {
  const { key, ...rest } = body;
  return { ...rest, attributes: key === undefined ? { ...body.attributes } : { ...body.attributes, [keyAttribute]: key } };
}

/** Fingerprint of the state a workload should have (what is compared with what was last sent). */
export function workloadFingerprint(body: WorkloadBody): string {
  return itemFingerprint(ConnectorItemKind.Workload, body);
}

/** A new connector_workloads row wanting `body` (whose `key` must be set). */
export function newWorkloadRow(organizationId: string, body: WorkloadBody & { key: string }): ConnectorWorkload {
  return Object.assign(new ConnectorWorkload(), {
    id: newRowId(),
    organizationId,
    type: body.type,
    vendorKey: body.key,
    desiredBody: { ...body },
    desiredFingerprint: workloadFingerprint(body),
    deleted: false,
    acronisTenantId: null,
    acronisDcUrl: null,
    remoteId: null,
    syncedFingerprint: null,
    updatedAt: new Date(),
  });
}

/** The row of one vendor device, if any. */
export function findWorkloadRow(em: EntityManager, organizationId: string, type: string, vendorKey: string): Promise<ConnectorWorkload | null> {
  return em.findOne(ConnectorWorkload, { where: { organizationId, type, vendorKey } });
}

/**
 * Records that the vendor wants `body` for its device (created or updated): the row's desired
 * state, in the caller's transaction. The connector item that follows syncs whatever the row wants
 * when it runs, so items for one device may run in any order.
 */
export async function wantWorkload(em: EntityManager, organizationId: string, body: WorkloadBody & { key: string }): Promise<void> {
  const row = await findWorkloadRow(em, organizationId, body.type, body.key);
  if (!row) {
    await em.insert(ConnectorWorkload, newWorkloadRow(organizationId, body) as never);
    return;
  }
  const desiredFingerprint = workloadFingerprint(body);
  if (row.desiredFingerprint === desiredFingerprint && !row.deleted) return;
  await em.update(ConnectorWorkload, { id: row.id }, { desiredBody: { ...body } as never, desiredFingerprint, deleted: false });
}

/**
 * Inserts new pending items, recording what each workload item wants of its device first (the
 * one way items are stored outside the intake: demo data, tests, benchmarks).
 */
export async function insertPendingItems(em: EntityManager, rows: ConnectorItem[]): Promise<void> {
  for (const row of rows) {
    const body = row.body as unknown as WorkloadBody;
    if (row.kind === ConnectorItemKind.Workload && typeof body.key === 'string') {
      await wantWorkload(em, row.organizationId, body as WorkloadBody & { key: string });
    }
  }
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    // simple-json columns are serialized by TypeORM; its partial-entity type cannot express that.
    await em.insert(ConnectorItem, rows.slice(i, i + ROWS_PER_INSERT) as QueryDeepPartialEntity<ConnectorItem>[]);
  }
}
