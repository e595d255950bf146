#!/usr/bin/env bash
# System packages the tests need on a fresh Debian machine (idempotent).
set -euo pipefail
need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v openssl >/dev/null || need+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# the ClickHouse backend's tests start their own servers (Debian's 18.16)
[ -x /usr/bin/clickhouse-server ] || [ -x /usr/sbin/clickhouse-server ] || need+=(clickhouse-server clickhouse-client)
# graphite-web draws its reference graphs with cairo (cairocffi loads
# libcairo2); its "Sans" must be DejaVu Sans, the font ferrograph embeds
dpkg -s libcairo2 >/dev/null 2>&1 || need+=(libcairo2)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core fontconfig)
# the browser UI's tests (tests/browser.rs) drive headless Chromium
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
