import { readFileSync } from 'node:fs';
import { datacenterUrlShapeProblem } from '../../connector/datacenter-policy';
import { refusal, SampleImportRefused } from './vendor-db';

/** The sample's connector.json (run_connector.py's ConnectorConfig): exactly these three strings. */
export interface SampleConnectorCredentials {
  client_id: string;
  client_secret: string;
  dc_url: string;
}

const KEYS = ['client_id', 'client_secret', 'dc_url'] as const;

/** The variables of the gateway that hold them (connector.config.ts). */
export function connectorEnvValues(credentials: SampleConnectorCredentials): Record<string, string> {
  return { ACRONIS_CLIENT_ID: credentials.client_id, ACRONIS_CLIENT_SECRET: credentials.client_secret, ACRONIS_DC_URL: credentials.dc_url };
}

/**
 * Reads and checks the sample's `connector.json`. The sample builds its ConnectorConfig from the
 * object's keys, so it refuses a missing or an unknown key too; a value still the placeholder of
 * connector.example.json, or a dc_url the connector could not call, is refused here as well.
 */
export function readConnectorJson(path: string): SampleConnectorCredentials {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SampleImportRefused(`${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Nothing was written.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new SampleImportRefused(`${path} is not JSON (${(error as Error).message}); the sample's connector.json is {"client_id": …, "client_secret": …, "dc_url": …}. Nothing was written.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SampleImportRefused(`${path} is not a JSON object; the sample's connector.json is {"client_id": …, "client_secret": …, "dc_url": …}. Nothing was written.`);
  }
  const object = parsed as Record<string, unknown>;
  const problems: string[] = [];
  const unknown = Object.keys(object).filter((k) => !(KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) problems.push(`unknown keys ${unknown.join(', ')} (the sample's run_connector.py refuses them too; the gateway has nowhere to keep them)`);
  for (const key of KEYS) {
    const value = object[key];
    if (value === undefined) problems.push(`${key} is missing`);
    else if (typeof value !== 'string' || value.trim() === '') problems.push(`${key} must be a non-empty string`);
    else if (/^<.*>$/.test(value.trim())) problems.push(`${key} is still the placeholder of connector.example.json (${value})`);
    else if (/[\r\n]/.test(value)) problems.push(`${key} must be on one line`);
    else if (key === 'dc_url') {
      const problem = datacenterUrlShapeProblem(value);
      if (problem) problems.push(`dc_url ${JSON.stringify(value)}: ${problem.replace(/^datacenter_url /, '')}`);
    }
  }
  if (problems.length > 0) throw refusal(`${path} is not a usable connector.json; nothing was written:`, problems);
  return { client_id: object.client_id as string, client_secret: object.client_secret as string, dc_url: object.dc_url as string };
}
