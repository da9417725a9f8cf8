import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { ExamplesObject, MediaTypeObject, OpenAPIObject, OperationObject, RequestBodyObject, ResponseObject } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { version } from '../package.json';
import { CallbackRegistry } from './callbacks/callback-registry.service';
import { authConfig, AuthConfig } from './config/auth.config';
import { metricsConfig, MetricsConfig } from './config/metrics.config';

/** Security scheme names, for `@ApiSecurity(…)` on controllers. */
export const CYBERAPP_AUTH_SCHEME = 'cyberapp-auth';
export const PLATFORM_JWT_SCHEME = 'platform-jwt';
export const HANDLER_TOKEN_SCHEME = 'handler-token';
export const METRICS_TOKEN_SCHEME = 'metrics-token';

const DOCS_PATH = '/api/docs';
const CALLBACK_PATH = '/callback';
const METRICS_PATH = '/metrics';

const DESCRIPTION = `The vendor-side service of an Acronis CyberApp.

- \`POST /callback\` answers the Acronis API Callback Gateway (the callback ID is in \`context.callback_id\`); its
  examples hold one request and its answer for every callback this instance serves.
- \`/api/…\` are the management APIs (webhooks, approval hooks, connector intake, S3 sources, actions).
- \`/api/action/1.0/…\` are the REST reads of on-premises action handlers; their WebSocket channel,
  \`/api/action-ws/1.0\`, is not an OpenAPI operation (the handler token goes in \`Sec-WebSocket-Protocol\`).
- \`POST /s3-events/{token}\` takes object storage notifications.
- \`/health/…\`, \`/\` and \`/metrics\` are for operators and probes.

Credentials, as each route's security says:

- \`cyberapp-auth\`: \`X-CyberApp-Auth\`, base64 of \`<login>:{"password":"…"}\` (the plain form is accepted too),
  on \`POST /callback\` and every management API.
- \`platform-jwt\`: the platform's \`Authorization: Bearer\` JWT, on \`POST /callback\` too when \`CALLBACK_JWT=required\`
  (this document lists it only when the instance serving it checks it).
- \`handler-token\`: \`Authorization: Bearer ahk_…\`, an action handler's token, on \`/api/action/1.0/…\`.
- \`metrics-token\`: \`Authorization: Bearer <METRICS_TOKEN>\` on \`/metrics\`, when METRICS_TOKEN is set; without it \`/metrics\`
  is open, and with METRICS_ENABLED=false it is not served (nor listed).
- None: \`/\`, \`/health/live\`, \`/health/ready\`, \`GET /s3-events/ping\`, and \`POST /s3-events/{token}\`, whose
  credential is the unguessable path token itself (an unknown one answers 404).

Every error, on every route, is the callback protocol's error envelope
\`{"request_id"?, "response_id", "err_message", "message", "code"}\` with a stable \`code\`.`;

/** The Swagger UI files the page loads, served from `swagger-ui-dist` (a dependency of @nestjs/swagger). */
const UI_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/** Finds the document next to the page, so that the UI also works behind a proxy that adds a path prefix. */
const UI_INIT = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: window.location.pathname.replace(/\\/+$/, '') + '-json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
};
`;

const uiPage = (base: string): string => `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>CyberApp Gateway API</title>
  <link rel="stylesheet" type="text/css" href="${base}swagger-ui.css">
  <link rel="icon" type="image/png" href="${base}favicon-32x32.png" sizes="32x32">
  <style>body { margin: 0; background: #fafafa; }</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${base}swagger-ui-bundle.js"></script>
  <script src="${base}swagger-ui-standalone-preset.js"></script>
  <script src="${base}swagger-ui-init.js"></script>
</body>
</html>
`;

/**
 * Serves the OpenAPI document at `/api/docs-json` (and `-yaml`), built on its first request, and
 * Swagger UI at `/api/docs`.
 *
 * The UI is served here rather than by SwaggerModule's own `ui` option, which registers
 * `@fastify/static`: that plugin needs the ESM-only `content-disposition` 3, which Jest's module
 * loader (and Node before 20.19) cannot `require`. The page needs four fixed files; each has its
 * own route, so no request path ever reaches the file system.
 */
export function setupOpenApi(app: NestFastifyApplication): void {
  const config = new DocumentBuilder()
    .setTitle('CyberApp Gateway')
    .setDescription(DESCRIPTION)
    .setVersion(version)
    .addApiKey(
      { type: 'apiKey', in: 'header', name: 'X-CyberApp-Auth', description: 'base64 of `<login>:{"password":"…"}`' },
      CYBERAPP_AUTH_SCHEME,
    )
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "The Acronis platform's RS256 token (callbacks only, CALLBACK_JWT=required)" },
      PLATFORM_JWT_SCHEME,
    )
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: "An action handler's token (`ahk_…`), shown once when the handler is created" }, HANDLER_TOKEN_SCHEME)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'The METRICS_TOKEN setting' }, METRICS_TOKEN_SCHEME)
    .build();
  SwaggerModule.setup(DOCS_PATH, app, () => finishDocument(SwaggerModule.createDocument(app, config), app), { ui: false, raw: ['json', 'yaml'] });

  const fastify = app.getHttpAdapter().getInstance();
  // The page at /api/docs loads `docs/<file>`; at /api/docs/ it loads `./<file>`.
  fastify.get(DOCS_PATH, (_request: FastifyRequest, reply: FastifyReply) => reply.type('text/html; charset=utf-8').send(uiPage('docs/')));
  fastify.get(`${DOCS_PATH}/`, (_request: FastifyRequest, reply: FastifyReply) => reply.type('text/html; charset=utf-8').send(uiPage('./')));
  fastify.get(`${DOCS_PATH}/swagger-ui-init.js`, (_request: FastifyRequest, reply: FastifyReply) =>
    reply.type('application/javascript; charset=utf-8').send(UI_INIT),
  );
  const cache = new Map<string, Promise<Buffer>>();
  for (const [file, type] of Object.entries(UI_ASSETS)) {
    fastify.get(`${DOCS_PATH}/${file}`, async (_request: FastifyRequest, reply: FastifyReply) => {
      let content = cache.get(file);
      if (!content) {
        content = readFile(join(dirname(require.resolve('swagger-ui-dist/package.json')), file));
        cache.set(file, content);
        content.catch(() => cache.delete(file));
      }
      return reply.type(type).header('cache-control', 'public, max-age=3600').send(await content);
    });
  }
}

/**
 * What the decorators cannot say, because it depends on the running instance: the example of every
 * callback the registry serves (IDs and types with this APP_CODE), the credentials this instance
 * really checks (the platform JWT with CALLBACK_JWT=required only; /metrics with METRICS_TOKEN
 * only, and not at all with METRICS_ENABLED=false), and `security: []` on the public routes.
 */
function finishDocument(document: OpenAPIObject, app: NestFastifyApplication): OpenAPIObject {
  const jwtRequired = app.get<AuthConfig>(authConfig.KEY).jwt.mode === 'required';
  const metrics = app.get<MetricsConfig>(metricsConfig.KEY);
  if (!metrics.enabled) delete document.paths[METRICS_PATH];

  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method];
      if (!operation) continue;
      let security = operation.security ?? [];
      if (!jwtRequired) security = security.map((requirement) => withoutScheme(requirement, PLATFORM_JWT_SCHEME));
      if (path === METRICS_PATH && metrics.token === null) security = [];
      operation.security = security.filter((requirement) => Object.keys(requirement).length > 0);
    }
  }

  const callback = document.paths[CALLBACK_PATH]?.post;
  if (callback) addCallbackExamples(callback, app.get(CallbackRegistry), jwtRequired);
  return document;
}

function withoutScheme(requirement: Record<string, string[]>, scheme: string): Record<string, string[]> {
  return Object.fromEntries(Object.entries(requirement).filter(([name]) => name !== scheme));
}

/** One request example and one answer example per callback ID, named by the ID, and the IDs in the description. */
function addCallbackExamples(operation: OperationObject, registry: CallbackRegistry, jwtRequired: boolean): void {
  const exchanges = registry.examples();
  const examples = (pick: (e: (typeof exchanges)[number]) => unknown): ExamplesObject =>
    Object.fromEntries(exchanges.map((e) => [e.callbackId, { summary: e.summary, value: pick(e) }]));
  jsonContent(operation.requestBody as RequestBodyObject).examples = examples((e) => e.request);
  jsonContent(operation.responses['200'] as ResponseObject).examples = examples((e) => e.response);
  operation.description =
    `${operation.description ?? ''}\n\nServed callback IDs (each has a request and an answer example):\n\n` +
    exchanges.map((e) => `- \`${e.callbackId}\``).join('\n') +
    (jwtRequired ? '' : '\n\nThis instance runs with CALLBACK_JWT=off: the platform JWT is not checked.');
}

function jsonContent(body: RequestBodyObject | ResponseObject): MediaTypeObject {
  const content = body.content?.['application/json'];
  if (!content) throw new Error('POST /callback is documented without an application/json body');
  return content;
}
