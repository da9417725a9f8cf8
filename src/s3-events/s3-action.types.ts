/** What runs for each object event of a source, in order. */
export type S3Action = S3CommandAction | S3ReplicateAction;

/** The example receiver's contract: `<command...> <bucket> <key> <copy|delete>`, argv only, no shell. */
export interface S3CommandAction {
  type: 'command';
  command: string[];
  timeout_ms?: number;
}

/** Where an S3-compatible bucket lives and how to sign requests to it. */
export interface S3Endpoint {
  endpoint: string;
  region: string;
  access_key_id: string;
  secret_access_key: string;
  force_path_style: boolean;
}

/**
 * Mirrors the object into `bucket` at the target endpoint: created => copied, removed => deleted.
 * Without `source` the copy is a server-side CopyObject on the target endpoint (same storage);
 * with it, the object is read from the source endpoint and written to the target.
 */
export interface S3ReplicateAction extends S3Endpoint {
  type: 'replicate';
  bucket: string;
  source?: S3Endpoint;
  timeout_ms?: number;
}

/** The verb of the example receiver's scripts. */
export enum S3Operation {
  Copy = 'copy',
  Delete = 'delete',
}
