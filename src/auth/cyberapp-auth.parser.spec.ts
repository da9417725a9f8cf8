import { parseCyberAppAuth, parseCyberAppExtra } from './cyberapp-auth.parser';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('parseCyberAppAuth', () => {
  it('reads the base64 form the platform sends', () => {
    expect(parseCyberAppAuth(b64('John.Doe:{"password":"p@ss:word"}'))).toEqual({ identity: 'john.doe', password: 'p@ss:word' });
  });

  it('reads the un-encoded form of the sample README', () => {
    expect(parseCyberAppAuth('username:{"password": "password"}')).toEqual({ identity: 'username', password: 'password' });
  });

  it('splits at the first colon only', () => {
    expect(parseCyberAppAuth(b64('a:{"password":"x:y","other":"z:w"}'))).toEqual({ identity: 'a', password: 'x:y' });
  });

  it('accepts base64url and unpadded base64', () => {
    const text = 'user:{"password":"??>>"}';
    expect(parseCyberAppAuth(Buffer.from(text).toString('base64url'))).toEqual({ identity: 'user', password: '??>>' });
    expect(parseCyberAppAuth(b64(text).replace(/=+$/, ''))).toEqual({ identity: 'user', password: '??>>' });
  });

  it.each([
    ['undefined', undefined],
    ['an array of headers', ['a', 'b']],
    ['empty', ''],
    ['not base64', '***'],
    ['no colon', b64('user')],
    ['empty identity', b64(':{"password":"x"}')],
    ['invalid JSON', b64('user:{"password":')],
    ['JSON null', b64('user:null')],
    ['JSON array', b64('user:["password"]')],
    ['missing password', b64('user:{"pwd":"x"}')],
    ['numeric password', b64('user:{"password":1}')],
    ['empty password', b64('user:{"password":""}')],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x3a, 0x7b]).toString('base64')],
    ['oversize', b64(`user:{"password":"${'x'.repeat(10_000)}"}`)],
  ])('returns null for %s', (_, header) => {
    expect(parseCyberAppAuth(header)).toBeNull();
  });
});

describe('parseCyberAppExtra', () => {
  it('reads base64 JSON objects and treats anything else as {}', () => {
    expect(parseCyberAppExtra(b64('{"a":1}'))).toEqual({ a: 1 });
    expect(parseCyberAppExtra('e30=')).toEqual({});
    expect(parseCyberAppExtra('{"plain":true}')).toEqual({ plain: true });
    for (const bad of [undefined, '', '***', b64('[1]'), b64('nope'), b64('"s"')]) expect(parseCyberAppExtra(bad)).toEqual({});
  });
});
