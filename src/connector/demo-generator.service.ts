import { Inject, Injectable } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { appConfig, AppConfig } from '../config/app.config';
import { connectorConfig, ConnectorConfig } from '../config/connector.config';
import { TransactionRunner } from '../database/transaction-runner.service';
import { Organization, OrganizationKind } from '../organizations/organization.entity';
import { OrganizationMapping } from '../tenant-mapping/organization-mapping.entity';
import type { AlertBody, WorkloadBody } from './acronis-api.types';
import { ConnectorItem, ConnectorItemKind, ConnectorItemSource } from './connector-item.entity';
import { newPendingItem } from './connector-items.service';
import { insertPendingItems } from './connector-sync';

/** One malware finding the demo alerts describe. */
interface MalwareTemplate {
  file: string;
  type: string;
  directory: string;
}

/**
 * The sample's demo data, shipped non-empty (the sample's template lists are empty and crash its
 * loop). The shapes are docs/protocols.md alert and workload examples.
 */
const MALWARE: readonly MalwareTemplate[] = [
  { file: 'trojan.exe', type: 'Trojan', directory: 'C:\\Users\\john\\Downloads' },
  { file: 'invoice_2024.pdf.exe', type: 'Ransomware', directory: 'C:\\Users\\mary\\Documents' },
  { file: 'keygen.exe', type: 'Adware', directory: 'C:\\Temp' },
  { file: 'update.js', type: 'Downloader', directory: 'C:\\Users\\Public\\AppData\\Roaming' },
  { file: 'libcrypt.so', type: 'Cryptominer', directory: '/tmp/.cache' },
  { file: 'svchost32.exe', type: 'Backdoor', directory: 'C:\\Windows\\Temp' },
];
const VM_PREFIXES: readonly string[] = ['web', 'db', 'mail', 'file', 'build', 'backup'];
const OPERATING_SYSTEMS: readonly string[] = ['Windows Server 2022', 'Ubuntu 22.04 LTS', 'Debian 12', 'Red Hat Enterprise Linux 9'];

const pick = <T>(values: readonly T[]): T => values[randomInt(values.length)];
const deviceId = (): string => `device-${randomInt(1, 10_000).toString().padStart(4, '0')}`;

/**
 * The first source of connector items: random alerts and workloads for every mapped CUSTOMER
 * organization (docs/protocols.md "Targets"), written as `demo` items in the same queue as the intake's.
 */
@Injectable()
export class DemoGenerator {
  constructor(
    private readonly transactions: TransactionRunner,
    @Inject(connectorConfig.KEY) private readonly config: ConnectorConfig,
    @Inject(appConfig.KEY) private readonly app: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.config.demo.enabled;
  }

  /** A random alert in the shape of docs/protocols.md example. */
  alert(): AlertBody {
    const malware = pick(MALWARE);
    const separator = malware.directory.startsWith('/') ? '/' : '\\';
    return {
      type: `cti.a.p.am.alert.v1.0~a.p.basic.v1.0~${this.app.appCode}.malware_detected.v1.0`,
      category: `cti.a.p.am.category.v1.0~${this.app.appCode}.protection.v1.0`,
      details: {
        title: 'Malware Quarantined',
        category: 'Malware Detected',
        description: `Malicious file "${malware.file}" was put into quarantine.`,
        fields: { 'Malware type': malware.type, 'Device ID': deviceId(), 'Full path': `${malware.directory}${separator}${malware.file}` },
      },
    };
  }

  /** A random virtual machine workload in the shape of docs/protocols.md example. */
  workload(): WorkloadBody & { key: string } {
    const name = `vm-${pick(VM_PREFIXES)}-${randomInt(1, 100).toString().padStart(2, '0')}`;
    return {
      // The name is the device's key: a name drawn again updates that workload.
      key: name,
      type: `cti.a.p.wm.workload.v1.0~a.p.wm.aspect.v1.0~${this.app.appCode}.virtual_machine.v1.0`,
      name,
      attributes: { os: pick(OPERATING_SYSTEMS), cpu_cores: pick([2, 4, 8, 16]), memory_gb: pick([4, 8, 16, 32, 64]) },
      allowed_actions: [],
      enabled: true,
    };
  }

  /**
   * Queues one batch per mapped customer: the configured number of alerts and workloads, pending
   * now, without an idempotency key (a demo item is new every run). Returns how many were queued.
   */
  async generate(): Promise<number> {
    const { alertsPerTenant, workloadsPerTenant } = this.config.demo;
    if (alertsPerTenant + workloadsPerTenant === 0) return 0;
    return this.transactions.run(async (em) => {
      const customers = await em
        .createQueryBuilder(OrganizationMapping, 'm')
        .innerJoin(Organization, 'o', 'o.id = m.organization_id')
        .where('o.kind = :kind', { kind: OrganizationKind.Customer })
        .orderBy('m.organization_id')
        .select('m.organization_id', 'organizationId')
        .getRawMany<{ organizationId: string }>();
      const now = new Date();
      const rows: ConnectorItem[] = [];
      for (const { organizationId } of customers) {
        const bodies: Array<[ConnectorItemKind, AlertBody | WorkloadBody]> = [
          ...Array.from({ length: alertsPerTenant }, (): [ConnectorItemKind, AlertBody] => [ConnectorItemKind.Alert, this.alert()]),
          ...Array.from({ length: workloadsPerTenant }, (): [ConnectorItemKind, WorkloadBody] => [ConnectorItemKind.Workload, this.workload()]),
        ];
        for (const [kind, body] of bodies) rows.push(newPendingItem({ organizationId, kind, source: ConnectorItemSource.Demo, idempotencyKey: null, body, now }));
      }
      await insertPendingItems(em, rows);
      return rows.length;
    });
  }
}
