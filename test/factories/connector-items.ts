import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { AlertBody, WorkloadBody } from '../../src/connector/acronis-api.types';
import { ConnectorItem, ConnectorItemKind, ConnectorItemSource } from '../../src/connector/connector-item.entity';
import { newPendingItem } from '../../src/connector/connector-items.service';
import { insertPendingItems } from '../../src/connector/connector-sync';

/** docs/protocols.md alert, with `marker` in its fields and description so that a push can be traced back to its item. */
export function alertBody(marker: string = randomUUID()): AlertBody {
  return {
    type: 'cti.a.p.am.alert.v1.0~a.p.basic.v1.0~vendor.app.malware_detected.v1.0',
    category: 'cti.a.p.am.category.v1.0~vendor.app.protection.v1.0',
    details: {
      title: 'Malware Quarantined',
      category: 'Malware Detected',
      description: `Malicious file "trojan-${marker}.exe" was put into quarantine.`,
      fields: { 'Malware type': 'Trojan', 'Device ID': 'device-42', 'Full path': `C:\\Temp\\trojan-${marker}.exe`, Marker: marker },
    },
  };
}

/** docs/protocols.md workload, named after `marker`, which is also its device key. */
export function workloadBody(marker: string = randomUUID()): WorkloadBody & { key: string } {
  return {
    key: marker,
    type: 'cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~vendor.app.virtual_machine.v1.0',
    name: `vm-${marker}`,
    attributes: { marker },
    allowed_actions: [],
    enabled: true,
  };
}

export interface NewItem {
  organizationId: string;
  kind?: ConnectorItemKind;
  id?: string;
  /** Defaults to a body of the kind whose marker is the item id. */
  body?: AlertBody | WorkloadBody;
  idempotencyKey?: string | null;
}

/** Pending intake items, due now, inserted directly (the intake API has its own spec). */
export async function createItems(ds: DataSource, items: NewItem[]): Promise<ConnectorItem[]> {
  const now = new Date();
  const rows = items.map((input) => {
    const id = input.id ?? randomUUID();
    const kind = input.kind ?? ConnectorItemKind.Alert;
    const body = input.body ?? (kind === ConnectorItemKind.Alert ? alertBody(id) : workloadBody(id));
    return newPendingItem({
      id,
      organizationId: input.organizationId,
      kind,
      source: ConnectorItemSource.Intake,
      idempotencyKey: input.idempotencyKey === undefined ? id : input.idempotencyKey,
      body,
      now,
    });
  });
  // Copies: a multi-row insert merges what it reads back into the entities it was given, and on
  // SQLite it can mix up which row gets which values.
  const copies = rows.map((row) => ({ ...row, body: { ...row.body } }));
  await ds.transaction((em) => insertPendingItems(em, rows));
  return copies;
}

/** The marker of a push the fake recorded (see {@link alertBody} / {@link workloadBody}), or null. */
export function markerOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as { details?: { fields?: { Marker?: unknown } }; items?: Array<{ attributes?: { marker?: unknown } }> };
  const marker = b.details?.fields?.Marker ?? b.items?.[0]?.attributes?.marker;
  return typeof marker === 'string' ? marker : null;
}
