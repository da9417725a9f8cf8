import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { OrganizationKind } from '../src/organizations/organization.entity';
import { OrganizationMapping } from '../src/tenant-mapping/organization-mapping.entity';
import { User } from '../src/users/user.entity';
import { createOrganization, createUser } from './factories/organizations';
import { createTestApp, TestApp } from './setup/create-test-app';
import { APP_CODE } from './setup/protocol';

/*
 * Runs postman/cyberapp-gateway.postman_collection.json against the real app without Postman:
 * the items in order, `{{…}}` substituted, the headers built as the collection pre-request script
 * builds them, and each answer checked as the collection's test scripts check it (status, type,
 * echoed request_id, the request's own JSON schema). The variables those scripts capture are
 * emulated by CAPTURES below, which is checked against the scripts' text.
 */

// The part of the Postman v2.1 format this spec reads.
interface PostmanEvent {
  listen: string;
  script: { exec: string[] };
}
interface PostmanRequest {
  method: string;
  header: Array<{ key: string; value: string; disabled?: boolean }>;
  body: { mode: string; raw: string };
  url: { raw: string };
}
interface PostmanItem {
  name: string;
  item?: PostmanItem[];
  event?: PostmanEvent[];
  request?: PostmanRequest;
  response?: Array<{ name: string; code: number; body: string }>;
}
interface PostmanCollection {
  info: { name: string; schema: string };
  item: PostmanItem[];
  event: PostmanEvent[];
  variable: Array<{ key: string; value: string }>;
}

interface Step {
  path: string;
  name: string;
  request: PostmanRequest;
  prerequest: string;
  test: string;
  examples: NonNullable<PostmanItem['response']>;
}

interface SentEnvelope {
  type: string;
  request_id: string;
  context: { callback_id: string };
  payload?: Record<string, unknown>;
}

interface CallbackAnswer {
  type: string;
  request_id: string;
  response_id: string;
  /** A list for a.p.customer.mirroring.get_state.ok.v1.0. */
  payload?: Record<string, unknown> | unknown[];
}

const COLLECTION_FILE = join(__dirname, '..', 'postman', 'cyberapp-gateway.postman_collection.json');
const collection = JSON.parse(readFileSync(COLLECTION_FILE, 'utf8')) as PostmanCollection;

const script = (events: PostmanEvent[] | undefined, listen: string): string =>
  (events ?? []).filter((e) => e.listen === listen).map((e) => e.script.exec.join('\n')).join('\n');

function flatten(items: PostmanItem[], prefix = ''): Step[] {
  return items.flatMap((item) => {
    const path = prefix ? `${prefix} / ${item.name}` : item.name;
    if (item.item) return flatten(item.item, path);
    if (!item.request) throw new Error(`${path}: neither a folder nor a request`);
    return [{
      path,
      name: item.name,
      request: item.request,
      prerequest: script(item.event, 'prerequest'),
      test: script(item.event, 'test'),
      examples: item.response ?? [],
    }];
  });
}

const steps = flatten(collection.item);
const collectionPrerequest = script(collection.event, 'prerequest');
const collectionTest = script(collection.event, 'test');

/** The callback id and type versions of a callback: docs/protocols.md are all v1.0; the mirroring guide's are v2.0 ids and v1.1 types. */
interface Versions {
  callback: string;
  types: string;
}
const V1_0: Versions = { callback: 'v1.0', types: 'v1.0' };
const MIRRORING: Versions = { callback: 'v2.0', types: 'v1.1' };

/**
 * docs/protocols.md table and the Acronis guide's mirroring callbacks: callback → request type →
 * response type (`{APP_CODE}` as the collection's AppCode), with their versions.
 */
const PROTOCOL_CALLBACKS: Array<[callback: string, request: string, response: string, versions: Versions]> = [
  ['a.p.enablement.read.v1.0', 'a.p.empty.v1.0', 'a.p.enablement.read.ok.v1.0', V1_0],
  ['a.p.enablement.write.v1.0', 'a.p.enablement.write.v1.0', 'a.p.success_no_content.v1.0', V1_0],
  ['a.p.enablement.reset.v1.0', 'a.p.empty.v1.0', 'a.p.success_no_content.v1.0', V1_0],
  ['a.p.topology.read.v1.0', 'a.p.topology.read.v1.0', 'a.p.topology.read.ok.v1.0', V1_0],
  ['a.p.tenant_mapping.read.v1.0', 'a.p.empty.v1.0', 'a.p.tenant_mapping.read.ok.v1.0', V1_0],
  ['a.p.tenant_mapping.write.v1.0', 'a.p.tenant_mapping.write.v1.0', 'a.p.success_no_content.v1.0', V1_0],
  [`${APP_CODE}.users_read.v1.0`, `${APP_CODE}.users_read.v1.0`, `${APP_CODE}.users_read_success.v1.0`, V1_0],
  [`${APP_CODE}.user_write.v1.0`, `${APP_CODE}.user_write.v1.0`, `${APP_CODE}.user_write_success.v1.0`, V1_0],
  [`${APP_CODE}.user_update.v1.0`, `${APP_CODE}.user_update.v1.0`, `${APP_CODE}.user_update_success.v1.0`, V1_0],
  [`${APP_CODE}.user_delete.v1.0`, `${APP_CODE}.user_delete.v1.0`, `${APP_CODE}.user_delete_success.v1.0`, V1_0],
  [`${APP_CODE}.reset_password.v1.0`, `${APP_CODE}.reset_password.v1.0`, `${APP_CODE}.reset_password_success.v1.0`, V1_0],
  ['a.p.partner.mirroring.get_state.v1.0', 'a.p.partner.mirroring.get_state.v1.0', 'a.p.partner.mirroring.get_state.ok.v1.0', MIRRORING],
  ['a.p.partner.mirroring.enable.v1.0', 'a.p.partner.mirroring.enable.v1.0', 'a.p.partner.mirroring.enable.ok.v1.0', MIRRORING],
  ['a.p.partner.mirroring.reset.v1.0', 'a.p.partner.mirroring.reset.v1.0', 'a.p.partner.mirroring.reset.ok.v1.0', MIRRORING],
  ['a.p.customer.mirroring.get_state.v1.0', 'a.p.customer.mirroring.get_state.v1.0', 'a.p.customer.mirroring.get_state.ok.v1.0', MIRRORING],
  ['a.p.customer.mirroring.set_state.v1.0', 'a.p.customer.mirroring.set_state.v1.0', 'a.p.customer.mirroring.set_state.ok.v1.0', MIRRORING],
];
const callbackId = (callback: string, versions: Versions): string => `cti.a.p.acgw.callback.${versions.callback}~${callback}`;

// ---- variables -------------------------------------------------------------------------------

type Variables = Map<string, string>;

const collectionVariables = (): Variables => new Map(collection.variable.map((v) => [v.key, v.value]));

/** Postman's dynamic variables the collection uses; a fresh value at each occurrence, as in Postman. */
const DYNAMIC: Record<string, () => string> = {
  $guid: () => randomUUID(),
  $isoTimestamp: () => new Date().toISOString(),
};

/** `{{Name}}` → its value; an unknown name fails (Postman would send the placeholder as is). */
function substitute(text: string, vars: Variables): string {
  return text.replace(/\{\{([^{}]+)\}\}/g, (_, name: string) => {
    const dynamic = DYNAMIC[name];
    if (dynamic) return dynamic();
    const value = vars.get(name);
    if (value === undefined) throw new Error(`unknown Postman variable {{${name}}}`);
    return substitute(value, vars);
  });
}

const placeholders = (text: string): string[] => [...text.matchAll(/\{\{([^{}$][^{}]*)\}\}/g)].map((m) => m[1]);

// ---- what the scripts do, read from their text ----------------------------------------------

/** The headers the collection pre-request script adds: `setBase64Header('<header>', '<variable>')`. */
function scriptHeaders(vars: Variables): Array<[string, string]> {
  const encoded = [...collectionPrerequest.matchAll(/setBase64Header\('([^']+)', '([^']+)'\)/g)].map(
    ([, header, variable]): [string, string] => [header, Buffer.from(substitute(vars.get(variable) ?? '', vars), 'utf8').toString('base64')],
  );
  const jwt = vars.get('PlatformJwt');
  return jwt ? [...encoded, ['Authorization', `Bearer ${jwt}`]] : encoded;
}

/** The response type a request's pre-request script sets for the collection-level test. */
function expectedResponseType(step: Step, vars: Variables): string {
  const match = /pm\.variables\.set\('ExpectedResponseType', pm\.variables\.replaceIn\('([^']+)'\)\)/.exec(step.prerequest);
  if (!match) throw new Error(`${step.path}: its pre-request script sets no ExpectedResponseType`);
  return substitute(match[1], vars);
}

/** A schema literal in a script: from `const <name> = {` to the first line that is `};`. */
function schemaIn(text: string, name: string): Schema {
  const lines = text.split('\n');
  const start = lines.indexOf(`const ${name} = {`);
  const end = lines.indexOf('};', start);
  if (start < 0 || end < 0) throw new Error(`no ${name} in script`);
  return JSON.parse(['{', ...lines.slice(start + 1, end), '}'].join('\n')) as Schema;
}

// ---- the subset of JSON Schema the collection uses -------------------------------------------

interface Schema {
  $schema?: string;
  title?: string;
  type?: 'object' | 'array' | 'string';
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  pattern?: string;
  minLength?: number;
  format?: 'date-time';
}
const KEYWORDS = new Set(['$schema', 'title', 'type', 'properties', 'required', 'additionalProperties', 'items', 'pattern', 'minLength', 'format']);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Errors of `value` against `schema`; a keyword this checker does not know is an error too. */
function schemaErrors(schema: Schema, value: unknown, at = '$'): string[] {
  const unknown = Object.keys(schema).filter((k) => !KEYWORDS.has(k));
  if (unknown.length) return [`${at}: unsupported schema keyword(s) ${unknown.join(', ')}`];
  switch (schema.type) {
    case 'object': {
      if (!isRecord(value)) return [`${at}: not an object`];
      const properties = schema.properties ?? {};
      return [
        ...(schema.required ?? []).filter((k) => !(k in value)).map((k) => `${at}.${k}: missing`),
        ...(schema.additionalProperties === false ? Object.keys(value).filter((k) => !(k in properties)).map((k) => `${at}.${k}: not allowed`) : []),
        ...Object.entries(properties).flatMap(([k, s]) => (k in value ? schemaErrors(s, value[k], `${at}.${k}`) : [])),
      ];
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: not an array`];
      return schema.items ? value.flatMap((v: unknown, i) => schemaErrors(schema.items as Schema, v, `${at}[${i}]`)) : [];
    case 'string':
      if (typeof value !== 'string') return [`${at}: not a string`];
      return [
        ...(schema.pattern !== undefined && !new RegExp(schema.pattern).test(value) ? [`${at}: does not match ${schema.pattern}`] : []),
        ...(schema.minLength !== undefined && value.length < schema.minLength ? [`${at}: shorter than ${schema.minLength}`] : []),
        ...(schema.format === 'date-time' && Number.isNaN(Date.parse(value)) ? [`${at}: not a date-time`] : []),
      ];
    default:
      return [];
  }
}

// ---- the variables the request test scripts capture -----------------------------------------

/** The answer's payload when it is an object (every answer but the mirrored customers' state). */
const objectOf = (answer: CallbackAnswer): Record<string, unknown> | undefined => (isRecord(answer.payload) ? answer.payload : undefined);

const itemsOf = (answer: CallbackAnswer): Array<Record<string, unknown>> => {
  const items = objectOf(answer)?.items;
  return Array.isArray(items) ? items.filter(isRecord) : [];
};

/** Per request name: the collection variables its test script sets, and how (as the script does it). */
const CAPTURES: Record<string, (answer: CallbackAnswer, vars: Variables) => Record<string, string>> = {
  'Enablement Read': (answer) => ({ VendorTenantId: String(objectOf(answer)?.vendor_tenant_id) }),
  'Topology Read': (answer, vars): Record<string, string> => {
    const customers = itemsOf(answer);
    const chosen = customers.find((c) => c.id === vars.get('CustomerId')) ?? customers[0];
    return chosen ? { CustomerId: String(chosen.id) } : {};
  },
  'Read Users': (answer, vars): Record<string, string> => {
    const created = itemsOf(answer).find((u) => u.email === vars.get('NewUserEmail'));
    return created ? { UserId: String(created.id) } : {};
  },
};

const scriptCaptures = (step: Step): string[] =>
  [...step.test.matchAll(/pm\.collectionVariables\.set\('([^']+)'/g)].map((m) => m[1]).sort();

// ---- specs -----------------------------------------------------------------------------------

describe('Postman collection (postman/cyberapp-gateway.postman_collection.json)', () => {
  it('is a Postman v2.1 collection that POSTs every request as JSON to {{BaseUrl}}/callback', () => {
    expect(collection.info.schema).toBe('https://schema.getpostman.com/json/collection/v2.1.0/collection.json');
    expect(new Set(steps.map((s) => s.name)).size).toBe(steps.length);
    for (const step of steps) {
      expect({ step: step.path, method: step.request.method, url: step.request.url.raw, mode: step.request.body.mode }).toEqual({
        step: step.path,
        method: 'POST',
        url: '{{BaseUrl}}/callback',
        mode: 'raw',
      });
      expect(step.request.header).toContainEqual({ key: 'Content-Type', value: 'application/json' });
    }
  });

  it('has the sample\'s collection variables, with our defaults', () => {
    expect(Object.fromEntries(collectionVariables())).toMatchObject({
      CyberAppAuth: 'root:{"password": "password"}',
      CyberAppExtra: '{}',
      AppCode: APP_CODE,
      BaseUrl: 'http://127.0.0.1:8080',
      TenantId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      CloudUrl: 'https://eu8-cloud.acronis.com',
    });
  });

  it('covers every callback of docs/protocols.md and every mirroring callback with its request type and expected response type', () => {
    const vars = collectionVariables();
    const seen = steps.map((step) => {
      const sent = JSON.parse(substitute(step.request.body.raw, vars)) as SentEnvelope;
      return { callback: sent.context.callback_id, request: sent.type, response: expectedResponseType(step, vars) };
    });
    for (const [callback, requestType, responseType, versions] of PROTOCOL_CALLBACKS) {
      const uses = seen.filter((s) => s.callback === callbackId(callback, versions));
      expect({ callback, uses: uses.length > 0 }).toEqual({ callback, uses: true });
      for (const use of uses) {
        expect(use).toEqual({
          callback: callbackId(callback, versions),
          request: `cti.a.p.acgw.request.${versions.types}~${requestType}`,
          response: `cti.a.p.acgw.response.${versions.types}~${responseType}`,
        });
      }
    }
    const known = new Set(PROTOCOL_CALLBACKS.map(([callback, , , versions]) => callbackId(callback, versions)));
    expect(seen.filter((s) => !known.has(s.callback))).toEqual([]);
  });

  it('declares every variable its requests use', () => {
    const declared = collectionVariables();
    const used = steps.flatMap((s) => [s.request.body.raw, s.request.url.raw, ...s.request.header.map((h) => h.value), s.prerequest].flatMap(placeholders));
    expect([...new Set(used)].filter((name) => !declared.has(name))).toEqual([]);
  });

  it('sets from its test scripts exactly the variables this spec emulates', () => {
    const fromScripts = Object.fromEntries(steps.map((s) => [s.name, scriptCaptures(s)]).filter(([, names]) => names.length > 0));
    const emulated = Object.fromEntries(
      Object.entries(CAPTURES).map(([name, capture]) => {
        const answer: CallbackAnswer = { type: '', request_id: '', response_id: '', payload: { vendor_tenant_id: 'x', items: [{ id: 'x', email: 'e' }] } };
        return [name, Object.keys(capture(answer, new Map([['NewUserEmail', 'e']]))).sort()];
      }),
    );
    expect(fromScripts).toEqual(emulated);
  });

  it('gives every request a response schema its saved examples satisfy', () => {
    const problems = steps.flatMap((step) => {
      const schema = schemaIn(step.test, 'responseSchema');
      return step.examples.flatMap((e) => schemaErrors(schema, JSON.parse(e.body)).map((err) => `${step.path} / ${e.name}: ${err}`));
    });
    expect(problems).toEqual([]);
  });

  describe('run top to bottom against a freshly seeded service', () => {
    let t: TestApp;
    const vars = collectionVariables();
    const requestSchema = schemaIn(collectionTest, 'requestSchema');

    beforeAll(async () => {
      t = await createTestApp();
      // What `npm run seed` makes, as far as the collection relies on it: the root organization
      // (VendorTenantId's default) with the user of CyberAppAuth, and customers with a user each.
      const auth = vars.get('CyberAppAuth') ?? '';
      const colon = auth.indexOf(':');
      const { password } = JSON.parse(auth.slice(colon + 1)) as { password: string };
      const root = await createOrganization(t.dataSource, { id: vars.get('VendorTenantId'), name: 'John Doe Inc.' });
      await createUser(t.dataSource, { organizationId: root.id, login: auth.slice(0, colon), password, name: 'John Doe' });
      for (const name of ['Grace Hopper', 'Ada Lovelace', 'Alan Turing']) {
        const customer = await createOrganization(t.dataSource, { kind: OrganizationKind.Customer, parentId: root.id, name: `${name} Inc.` });
        const login = name.toLowerCase().replace(' ', '.');
        await createUser(t.dataSource, { organizationId: customer.id, login, name, email: `${login}@john-doe.xyz` });
      }
    });
    afterAll(() => t.close());

    for (const step of steps) {
      it(step.path, async () => {
        const raw = substitute(step.request.body.raw, vars);
        const sent = JSON.parse(raw) as SentEnvelope;
        expect(schemaErrors(requestSchema, sent)).toEqual([]);

        const url = new URL(substitute(step.request.url.raw, vars));
        const call = request(t.server).post(url.pathname);
        for (const h of step.request.header.filter((x) => !x.disabled)) call.set(h.key, substitute(h.value, vars));
        for (const [key, value] of scriptHeaders(vars)) call.set(key, value);
        const res = await call.send(raw);

        expect(`${res.status} ${res.text}`).toMatch(/^200 /);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        const answer = res.body as CallbackAnswer;
        expect(answer.type).toBe(expectedResponseType(step, vars));
        expect(answer.request_id).toBe(sent.request_id);
        expect(schemaErrors(schemaIn(step.test, 'responseSchema'), answer)).toEqual([]);

        const capture = CAPTURES[step.name];
        for (const [key, value] of Object.entries(capture ? capture(answer, vars) : {})) vars.set(key, value);
        for (const name of scriptCaptures(step)) expect({ [name]: vars.get(name) }).toEqual({ [name]: expect.stringMatching(/.+/) });
      });
    }

    it('leaves no mapping and no user of its own behind, so it can run again', async () => {
      expect(await t.dataSource.manager.count(OrganizationMapping)).toBe(0);
      expect(await t.dataSource.manager.count(User, { where: { login: vars.get('NewUserLogin') } })).toBe(0);
    });
  });
});
