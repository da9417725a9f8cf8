import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/**
 * What a new user copies from the docs must work together: the seed example's credentials are the
 * ones the Postman collection sends (a mismatch meant 401s, then a lockout, on the first run).
 */
describe('first run: the documented commands agree with each other', () => {
  const collection = JSON.parse(read('postman/cyberapp-gateway.postman_collection.json')) as { variable: Array<{ key: string; value: string }> };
  const auth = collection.variable.find((v) => v.key === 'CyberAppAuth')?.value ?? '';
  const [, login, password] = /^([^:]+):\{"password": "(.*)"\}$/.exec(auth) ?? [];

  it('has a CyberAppAuth variable in the collection', () => {
    expect(login).toBeTruthy();
    expect(password).toBeTruthy();
  });

  it.each(['README.md', 'postman/README.md'])('%s seeds exactly the user the collection authenticates as', (file) => {
    const seeds = [...read(file).matchAll(/npm run seed -- --login (\S+) --password (\S+?)[`\s]/g)].map(([, l, p]) => [l, p]);
    expect(seeds.length).toBeGreaterThan(0);
    for (const seed of seeds) expect(seed).toEqual([login, password]);
  });
});

/** README's command table names every npm script and the prerequisites (issue 16). */
describe("README's command table", () => {
  const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
  const readme = read('README.md');
  const table = readme.slice(readme.indexOf('### Commands'), readme.indexOf('\n## ', readme.indexOf('### Commands')));

  it.each(scripts)('lists npm script %s', (name) => {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(table).toMatch(new RegExp(`(npm run |npm |\`|/ )${escaped}(\\b|\`)`));
  });

  it('states the prerequisites', () => {
    expect(readme).toMatch(/Node\.js 20 or later/);
    expect(readme).toMatch(/`python3`, `make` and\s+`g\+\+`/);
  });
});

/** README and docs/ stand alone: no reference outside the repository, and every relative link resolves. */
describe('the documentation stays inside the repository', () => {
  const files = ['README.md', 'deploy/README.md', 'postman/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

  it.each(files)('%s names no design notes outside the repository', (file) => {
    const text = read(file);
    expect(text).not.toMatch(/\.\.\/shared|DESIGN(\.md)? ?\d|STYLE\.md/);
  });

  it('docker-compose.yml names no design notes outside the repository', () => {
    expect(read('docker-compose.yml')).not.toMatch(/\.\.\/shared|DESIGN(\.md)? ?\d|STYLE\.md/);
  });

  it.each(files)('%s links only to files that exist', (file) => {
    const links = [...read(file).matchAll(/\]\(([^)#\s]+)(#[^)\s]*)?\)/g)].map(([, target]) => target).filter((target) => !/^[a-z]+:/i.test(target));
    for (const target of links) expect({ target, exists: existsSync(join(ROOT, dirname(file), target)) }).toEqual({ target, exists: true });
  });
});
