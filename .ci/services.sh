#!/usr/bin/env bash
# Services the tests start themselves: install them when missing.
#
#   bash .ci/services.sh
#
# - redis-server (Debian's package), for the shared-quota tests: they start their
#   own on 127.0.0.1 with a free port and stop it by PID; nothing runs as a service.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
  echo "[services.sh] apt-get install redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # Debian starts the packaged service; the tests need only the binary.
  if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
fi
echo "[services.sh] $(redis-server --version)"
