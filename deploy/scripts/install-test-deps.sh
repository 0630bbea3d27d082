#!/usr/bin/env bash
# Installs what the test suite starts for real: redis-server, sipp (sip-tester), baresip,
# espeak-ng + sox (prompt generation), kamailio (dispatcher tests), chromium (console tests).
# Idempotent: does nothing when everything is present.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v sipp >/dev/null         || need+=(sip-tester)
command -v baresip >/dev/null      || need+=(baresip-core)
command -v espeak-ng >/dev/null    || need+=(espeak-ng)
command -v sox >/dev/null          || need+=(sox)
command -v kamailio >/dev/null     || need+=(kamailio)
command -v chromium >/dev/null     || need+=(chromium)
command -v curl >/dev/null         || need+=(curl)
[ -f /usr/share/sip-tester/dtmf_2833_1.pcap ] || need+=(sip-tester)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing test dependencies: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
