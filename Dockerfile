# syntax=docker/dockerfile:1
#
# CyberApp Gateway: the image `npm start` describes. `npm start` builds (nest build → dist/) and
# runs `node dist/src/main`, which applies pending migrations at start (DATABASE_MIGRATIONS_RUN,
# default true); this image does the same in stages:
#   install  npm ci with the toolchain the native modules may need (better-sqlite3 compiles from
#            source when no prebuilt binary can be fetched; @node-rs/argon2 ships prebuilt ones)
#   build    nest build
#   prune    npm prune --omit=dev, then scripts/prune-runtime.js: the runtime dependencies only
#            (without typescript/ts-node, which prune keeps as optional peers), native binaries
#            kept, their sources and build objects dropped
#   runtime  node:20-bookworm-slim without a compiler, as the unprivileged `node` user
#
#   docker build -t cyberapp-gateway .
#   # another npm registry, and a CA bundle for an intercepting proxy (a secret of the npm ci step
#   # only, never stored in a layer):
#   docker build --build-arg NPM_REGISTRY="$(npm config get registry)" \
#     --secret id=ca_certs,src=/etc/ssl/certs/ca-certificates.crt -t cyberapp-gateway .
#   docker run -p 8080:8080 -v gateway-data:/app/data cyberapp-gateway            # SQLite on a volume
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://… cyberapp-gateway         # PostgreSQL
#
# Configuration is the environment (.env.example lists every variable). NODE_ENV=production
# makes the platform JWT required (CALLBACK_JWT). docker-compose.yml runs two replicas on
# PostgreSQL behind nginx.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS install
# No install-time telemetry (the postinstall of @scarf/scarf, a dependency's dependency) and no
# npm update notice in the build log.
ENV SCARF_ANALYTICS=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# npm_config_nodedir: node-gyp compiles against this image's own Node headers (/usr/local/include/node)
# instead of downloading them.
ARG NPM_REGISTRY=https://registry.npmjs.org/
RUN --mount=type=secret,id=ca_certs \
    if [ -s /run/secrets/ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_certs; fi \
 && npm_config_nodedir=/usr/local npm ci --no-audit --no-fund --registry="$NPM_REGISTRY"

FROM install AS build
COPY nest-cli.json tsconfig.json tsconfig.build.json ormconfig.ts ./
COPY migrations ./migrations
COPY src ./src
RUN npm run build

FROM build AS prune
COPY scripts/prune-runtime.js ./scripts/
RUN npm prune --omit=dev --no-audit --no-fund \
 && node scripts/prune-runtime.js

FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="cyberapp-gateway" \
      org.opencontainers.image.description="Vendor-side integration service for the Acronis Cyber Platform (CyberApp callbacks, connector, webhooks)"
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    SQLITE_PATH=/app/data/gateway.db
WORKDIR /app
# Owned by root and read-only for the service; only the data directory is its own.
COPY --from=prune /app/package.json ./
COPY --from=prune /app/node_modules ./node_modules
COPY --from=prune /app/dist ./dist
RUN mkdir -p /app/data && chown node:node /app/data
# The SQLite database (the embedded default); unused with DATABASE_URL.
VOLUME ["/app/data"]
USER node
EXPOSE 8080
# node itself (the slim image has no curl): HTTPS when TLS_CERT_FILE is set, any certificate.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const c=process.env.TLS_CERT_FILE?require('node:https'):require('node:http');c.get({host:'127.0.0.1',port:Number(process.env.PORT)||8080,path:'/health/live',rejectUnauthorized:false,timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
# Not through npm: node is PID 1 and gets SIGTERM itself (graceful shutdown, SHUTDOWN_TIMEOUT_MS).
CMD ["node", "dist/src/main.js"]
