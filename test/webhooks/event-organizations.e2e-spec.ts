import { TransactionRunner } from '../../src/database/transaction-runner.service';
import { DomainEvent } from '../../src/events/event.entity';
import { OutboxService } from '../../src/events/outbox.service';
import { createOrganization, createTree, Tree } from '../factories/organizations';
import { createTestApp, TestApp } from '../setup/create-test-app';

describe('events carry the organizations they concern', () => {
  let t: TestApp;
  let tree: Tree;

  beforeAll(async () => {
    t = await createTestApp({ WEBHOOKS_WORKER_ENABLED: 'false' });
    tree = await createTree(t.dataSource);
  });
  afterAll(() => t.close());

  const record = (organizationId: string | null): Promise<DomainEvent> =>
    t.app.get(TransactionRunner).run((em) => t.app.get(OutboxService).record(em, { type: 'user.created', organizationId, data: {} }));
  const stored = async (event: DomainEvent): Promise<string[]> => (await t.dataSource.manager.findOneByOrFail(DomainEvent, { id: event.id })).organizationIds;

  it('stores the organization of the event first, then its ancestors up to the top', async () => {
    expect(await stored(await record(tree.subCustomer.id))).toEqual([tree.subCustomer.id, tree.subPartner.id, tree.partner.id]);
    expect(await stored(await record(tree.partner.id))).toEqual([tree.partner.id]);
  });

  it('stores no organization for an event of none, and the organization alone when it is not in the tree', async () => {
    expect(await stored(await record(null))).toEqual([]);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await stored(await record(unknown))).toEqual([unknown]);
  });

  it('keeps the ancestors as they were when the event was written', async () => {
    const moved = await createOrganization(t.dataSource, { parentId: tree.subPartner.id });
    const before = await record(moved.id);
    await t.dataSource.manager.update('organizations', { id: moved.id }, { parentId: tree.other.id });
    expect(await stored(before)).toEqual([moved.id, tree.subPartner.id, tree.partner.id]);
    expect(await stored(await record(moved.id))).toEqual([moved.id, tree.other.id]);
  });
});
