#!/usr/bin/env bash
# Installs the reference implementations ferrograph is tested against, outside
# the repository, idempotently (a few seconds when everything is present):
#
#   $FERROGRAPH_REFS (default /opt/ferrograph-refs as root, else
#   ~/.cache/ferrograph-refs; see scripts/refs-dir.sh)
#     statsd/node_modules/statsd      Etsy StatsD 0.9.0 (npm) — differential tests
#     clients/node_modules/hot-shots  Node StatsD client — client interop tests
#     venv/                           whisper 1.1.10, graphite-web 1.1.10, statsd (PyPI),
#                                     carbon 1.1.10 (its schema loader and venv/conf/*.example),
#                                     prometheus_client (its exposition-format parser)
#     bin/ref-python                  the venv's python (imports whisper, graphite, statsd)
#
# Needs node/npm and python3 with venv (scripts/ci-prerequisites.sh installs them).
set -euo pipefail

# shellcheck source=scripts/refs-dir.sh
. "$(dirname "$0")/refs-dir.sh"
PREFIX="$FERROGRAPH_REFS"
STATSD_VERSION=0.9.0
HOT_SHOTS_VERSION=11.2.0
PIP_PACKAGES=(whisper==1.1.10 graphite-web==1.1.10 carbon==1.1.10 statsd==4.0.1 pytz six pyparsing cairocffi urllib3 scandir prometheus_client==0.21.1 pyarrow)

log() { printf '[install-references] %s\n' "$*" >&2; }
mkdir -p "$PREFIX/bin"

npm_package_version() { # dir package
  node -p "require('$1/node_modules/$2/package.json').version" 2>/dev/null || true
}

if [ "$(npm_package_version "$PREFIX/statsd" statsd)" != "$STATSD_VERSION" ]; then
  log "npm install statsd@$STATSD_VERSION"
  mkdir -p "$PREFIX/statsd"
  # optional deps (native syslog, hashring proxy, Windows service) are not
  # needed for the UDP server and the graphite backend
  npm install --prefix "$PREFIX/statsd" --no-audit --no-fund --omit=optional \
    --loglevel=error "statsd@$STATSD_VERSION" >&2
fi

if [ "$(npm_package_version "$PREFIX/clients" hot-shots)" != "$HOT_SHOTS_VERSION" ]; then
  log "npm install hot-shots@$HOT_SHOTS_VERSION"
  mkdir -p "$PREFIX/clients"
  npm install --prefix "$PREFIX/clients" --no-audit --no-fund --omit=optional \
    --loglevel=error "hot-shots@$HOT_SHOTS_VERSION" >&2
fi

py="$PREFIX/venv/bin/python"
if ! "$py" -c 'import whisper, graphite.render, statsd, carbon.conf, carbon.util, prometheus_client, pyarrow.parquet' >/dev/null 2>&1; then
  log "pip install ${PIP_PACKAGES[*]} into $PREFIX/venv"
  [ -x "$py" ] || python3 -m venv "$PREFIX/venv"
  "$PREFIX/venv/bin/pip" install -q --upgrade pip
  # graphite-web installs under its own /opt/graphite prefix unless told not to
  GRAPHITE_NO_PREFIX=True "$PREFIX/venv/bin/pip" install -q --no-binary=graphite-web,carbon \
    "${PIP_PACKAGES[@]}"
fi
# a wrapper, not a symlink: a symlinked venv python does not find its venv
printf '#!/bin/sh\nexec "%s" "$@"\n' "$py" > "$PREFIX/bin/ref-python"
chmod +x "$PREFIX/bin/ref-python"
"$PREFIX/bin/ref-python" -c 'import whisper, graphite.render, statsd, pyarrow.parquet' \
  || { log "the reference python modules do not import"; exit 1; }
[ -f "$PREFIX/venv/conf/storage-schemas.conf.example" ] \
  || { log "carbon's example configs are missing under $PREFIX/venv/conf"; exit 1; }
log "references ready under $PREFIX"
