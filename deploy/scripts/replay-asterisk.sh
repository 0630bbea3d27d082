#!/usr/bin/env bash
# Replays, with curl, exactly the HTTP request that deploy/asterisk/extensions.conf (pattern A,
# context deflect-exit) makes against a running deflectd, and prints what the dialplan would do.
# A smoke test of a deployment's token, URL and template from the PBX's side of the seam.
#
#   DEFLECTD_API=http://127.0.0.1:8080/api/v1 DEFLECTD_PBX_TOKEN=... \
#     deploy/scripts/replay-asterisk.sh +966501234567 [CUSTOMER_ID] [ACCOUNT_NO] [WAIT]
#
# Exit status: 0 when deflectd gave a result (printed: deflected -> "hang up", anything else ->
# "back to the queue at the saved position"), 1 when it gave none (the dialplan re-queues then too).
set -euo pipefail
api=${DEFLECTD_API:-http://127.0.0.1:8080/api/v1}
token=${DEFLECTD_PBX_TOKEN:?set DEFLECTD_PBX_TOKEN to a pbx-scope token}
number=${1:?usage: replay-asterisk.sh NUMBER [CUSTOMER_ID] [ACCOUNT_NO] [WAIT]}
customer=${2:-}
account=${3:-}
wait=${4:-300}
uniqueid=${UNIQUEID:-replay.$$.$(date +%s)}

# The dialplan's CURLOPT(httpheader) lines and CURL(url,post-data) with URIENCODE()d values.
res=$(curl -sS --connect-timeout 2 \
	-H "Authorization: Bearer $token" \
	-H "Content-Type: application/x-www-form-urlencoded" \
	-H "Idempotency-Key: $uniqueid" \
	--data-urlencode "number=$number" \
	--data-raw "queue=billing&wait=$wait" \
	--data-urlencode "customer_id=$customer" \
	--data-urlencode "context.Account=$account" \
	"$api/deflections") || { echo "no answer: back to the queue at the saved position"; exit 1; }
echo "$res"
# JSON_DECODE(RES,result)
result=$(printf '%s' "$res" | sed -n 's/.*"result":"\([a-z-]*\)".*/\1/p')
case $result in
deflected) echo "result=deflected: Playback(deflect/sent), Hangup()" ;;
"") echo "no result: back to the queue at the saved position"; exit 1 ;;
*) echo "result=$result: Playback(deflect/back-to-queue), Queue() at the saved position" ;;
esac
