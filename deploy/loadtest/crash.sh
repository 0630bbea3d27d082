#!/usr/bin/env bash
# Crash under load: two deflectd instances on one Redis behind the shipped Kamailio config; one
# is killed with SIGKILL while sipp runs deflections through Kamailio. Reports how many calls the
# dead instance took with it, that every later call went to the survivor, when the survivor
# reconciled the dead one's sessions, and that no customer got a template twice.
#
#   deploy/loadtest/crash.sh                 CRASH_CALLS=1000 CRASH_RATE=100 (100 deflections/s)
#
# It runs TestKamailioSigkillUnderLoad (CI runs the same test with 20 calls at 4/s).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CRASH_CALLS=${CRASH_CALLS:-1000} CRASH_RATE=${CRASH_RATE:-100}
cd "$ROOT"
go test -count=1 -timeout 10m -run 'TestKamailioSigkillUnderLoad$' -v ./deploy/e2e 2>&1 |
	grep -E 'served|reconciled|templates|^(--- |ok|FAIL)'
