import { parse } from 'dotenv';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planEnvValues, updateEnvText, writeEnvValues } from './env-file-update';

describe('updateEnvText', () => {
  it('rewrites the assignment in place and leaves every other line as it was', () => {
    const text = '# comment\nPORT=8080\nACRONIS_CLIENT_ID=\n\n  # ACRONIS_CLIENT_ID=commented\nLOG_LEVEL=info # inline\n';
    const update = updateEnvText(text, { ACRONIS_CLIENT_ID: 'abc' });
    expect(update.text).toBe('# comment\nPORT=8080\nACRONIS_CLIENT_ID=abc\n\n  # ACRONIS_CLIENT_ID=commented\nLOG_LEVEL=info # inline\n');
    expect(update).toMatchObject({ added: ['ACRONIS_CLIENT_ID'], replaced: [], unchanged: [] });
  });

  it('appends a missing key, ending the last line first, with the file’s line endings', () => {
    expect(updateEnvText('A=1\r\nB=2', { C: '3' }).text).toBe('A=1\r\nB=2\r\nC=3\r\n');
    expect(updateEnvText('', { C: '3' }).text).toBe('C=3\n');
  });

  it('keeps `export ` and CRLF on a rewritten line, and rewrites every assignment of the key', () => {
    const update = updateEnvText('export K=old\r\nX=1\r\nK: older\r\n', { K: 'new' });
    expect(update.text).toBe('export K=new\r\nX=1\r\nK=new\r\n');
    expect(update.replaced).toEqual(['K']);
  });

  it('changes nothing when the value is already there, however it is quoted', () => {
    const text = "K='v' # set by hand\n";
    expect(updateEnvText(text, { K: 'v' })).toEqual({ text, added: [], replaced: [], unchanged: ['K'], previous: { K: 'v' } });
  });

  it.each([
    ['plain', 'abc-DEF_1.2:3/4@5+6=7'],
    ['a hash', 'se#cret'],
    ['spaces', ' lead and trail '],
    ['a single quote', "it's"],
    ['both quotes', `say "it's"`],
    ['a dollar', 'pa$$word'],
    ['backslashes', 'a\\b\\n'],
    ['a backslash and a space', 'a\\ b'],
    ['a backslash and a single quote', "it's a\\b"],
  ])('writes a value with %s so dotenv reads it back exactly', (_what, value) => {
    const update = updateEnvText('OTHER=1\n', { K: value });
    expect(parse(update.text)).toEqual({ OTHER: '1', K: value });
  });

  it('refuses a value it cannot write so that it reads back the same', () => {
    expect(() => updateEnvText('', { K: 'a\nb' })).toThrow('several lines');
    expect(() => updateEnvText('', { K: `'"\`` })).toThrow('every kind of quote');
    expect(() => updateEnvText('', { K: 'back\\slash"\'`' })).toThrow();
    expect(() => updateEnvText('', { K: "it's\\" })).toThrow('every kind of quote');
  });

  it('refuses when a rewrite would change how another variable reads (a value spanning lines)', () => {
    expect(() => updateEnvText('K="first\nOTHER=inside"\nZ=1\n', { K: 'v' })).toThrow('cannot be updated safely');
  });
});

describe('writeEnvValues', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'env-update-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a missing file readable by its owner only', () => {
    const file = join(dir, '.env');
    expect(writeEnvValues(file, { K: 'v' })).toMatchObject({ written: true, added: ['K'] });
    expect(readFileSync(file, 'utf8')).toBe('K=v\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps the mode of an existing file and does not write when nothing changes', () => {
    const file = join(dir, '.env');
    writeFileSync(file, 'K=v\n', { mode: 0o640 });
    const before = statSync(file);
    expect(writeEnvValues(file, { K: 'v' })).toMatchObject({ written: false, unchanged: ['K'] });
    expect(statSync(file).ino).toBe(before.ino);
    expect(writeEnvValues(file, { K: 'w' })).toMatchObject({ written: true, replaced: ['K'] });
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readFileSync(file, 'utf8')).toBe('K=w\n');
  });

  it('replaces the file a symbolic link names, keeping the link', () => {
    const real = join(dir, 'real.env');
    writeFileSync(real, 'A=1\n');
    const link = join(dir, '.env');
    symlinkSync(real, link);
    writeEnvValues(link, { B: '2' });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(real);
    expect(readFileSync(real, 'utf8')).toBe('A=1\nB=2\n');
    expect(planEnvValues(link, { B: '2' })).toMatchObject({ path: real, unchanged: ['B'] });
  });
});
