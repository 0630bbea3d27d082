#!/usr/bin/env bash
# The load smoke from an empty Go build cache, as on a fresh machine: the builds must happen outside
# the scenarios' time bounds (a cold build inside them was killed and failed `make test`). Run by
# `make test`; the module cache is kept (only the build cache is cold).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$(mktemp -d /tmp/deflectd-coldcache.XXXXXX)
trap 'chmod -R u+w "$cache" 2>/dev/null; rm -rf "$cache"' EXIT
echo "cold-smoke: GOCACHE=$cache (empty)"
GOCACHE=$cache bash "$HERE/../loadtest/smoke.sh" "$@"
