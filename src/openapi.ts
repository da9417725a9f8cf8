import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { version } from '../package.json';

/** Security scheme names, for `@ApiSecurity(…)` on controllers. */
export const CYBERAPP_AUTH_SCHEME = 'cyberapp-auth';
export const PLATFORM_JWT_SCHEME = 'platform-jwt';

const DOCS_PATH = '/api/docs';

const DESCRIPTION = `The vendor-side service of an Acronis CyberApp.

- \`POST /callback\` answers the Acronis API Callback Gateway (the callback ID is in \`context.callback_id\`).
- \`/api/webhooks\` manages outbound webhook subscriptions and their delivery log.
- \`/api/connector/items\` queues alerts and workloads for the connector.

Every route authenticates with \`X-CyberApp-Auth\`: base64 of \`<login>:{"password":"…"}\` (the plain form is
accepted too). \`POST /callback\` also requires the platform's \`Authorization: Bearer\` JWT when
\`CALLBACK_JWT=required\`. Every error, on every route, is the callback protocol's error envelope
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
    .build();
  SwaggerModule.setup(DOCS_PATH, app, () => SwaggerModule.createDocument(app, config), { ui: false, raw: ['json', 'yaml'] });

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
