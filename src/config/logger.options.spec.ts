import { logFormat } from './logger.options';

const installed = (): boolean => true;
const missing = (): boolean => false;

describe('logFormat', () => {
  it.each([
    // LOG_PRETTY unset: pretty exactly on a terminal outside production.
    [undefined, 'development', true, { pretty: true }],
    [undefined, 'test', true, { pretty: true }],
    [undefined, 'production', true, { pretty: false }],
    [undefined, 'development', false, { pretty: false }],
    // LOG_PRETTY set: it decides.
    [true, 'production', false, { pretty: true }],
    [false, 'development', true, { pretty: false }],
  ] as const)('LOG_PRETTY=%s, NODE_ENV=%s, stdout a terminal: %s → %j', (logPretty, nodeEnv, tty, expected) => {
    expect(logFormat({ logPretty, nodeEnv }, tty, installed)).toEqual(expected);
  });

  it('falls back to JSON without pino-pretty: silently when it was the default, with a notice when LOG_PRETTY=true asked for it', () => {
    expect(logFormat({ logPretty: undefined, nodeEnv: 'development' }, true, missing)).toEqual({ pretty: false });
    expect(logFormat({ logPretty: true, nodeEnv: 'development' }, false, missing)).toEqual({
      pretty: false,
      notice: 'LOG_PRETTY=true but pino-pretty is not installed (a development dependency): logging JSON lines',
    });
  });
});
