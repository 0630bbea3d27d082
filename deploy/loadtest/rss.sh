#!/usr/bin/env bash
# Memory of the embedded default under a long deflection load: RATE deflections/s for SECONDS s
# (RATE, DURATION; default 200/s for 120 s) with sipp on loopback, every caller a distinct number, the gateway's
# RSS sampled every 10 s. Run against this tree and, as the peer, a BASE commit (default: the
# commit before the memory store's caps), one after the other on the same machine.
#
#   deploy/loadtest/rss.sh [BASE]          RATE=200 DURATION=120 WORK=/tmp/deflectd-rss
#
# Prints RSS at 60 s and at the end for both, and the end/60 s ratio (flat = close to 1).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BASE=${1:-$(git -C "$ROOT" log --format=%H -1 --grep='memory store keeps at most' 2>/dev/null)^}
RATE=${RATE:-200}
SECONDS_=${DURATION:-120}
WORK=${WORK:-/tmp/deflectd-rss}
PORT=${PORT:-5090}
mkdir -p "$WORK"

build() { # build <tree> <out>
	(cd "$1" && go build -o "$2" ./cmd/deflectd)
}

echo "building this tree and the peer ($BASE)" >&2
build "$ROOT" "$WORK/deflectd-now"
rm -rf "$WORK/base" && git -C "$ROOT" worktree add -f --detach "$WORK/base" "$BASE" >/dev/null 2>&1
build "$WORK/base" "$WORK/deflectd-base"
git -C "$ROOT" worktree remove --force "$WORK/base"

calls=$((RATE * SECONDS_))
{ echo SEQUENTIAL; for i in $(seq 1 "$calls"); do printf '+9665%08d\n' "$i"; done; } > "$WORK/callers.csv"

run() { # run <name> <binary>
	local name=$1 bin=$2
	DEFLECTD_SIP_LISTEN=udp://127.0.0.1:$PORT DEFLECTD_HTTP_LISTEN=127.0.0.1:$((PORT + 300)) \
		DEFLECTD_WHATSAPP_THROUGHPUT=1000 DEFLECTD_LOG_LEVEL=warn DEFLECTD_SIP_MAX_CALLS=20000 \
		"$bin" > "$WORK/$name.log" 2>&1 &
	local pid=$!
	sleep 2
	timeout $((SECONDS_ + 90)) sipp 127.0.0.1:$PORT -sf "$HERE/sipp/load-deflect.xml" -inf "$WORK/callers.csv" \
		-r "$RATE" -m "$calls" -l 5000 -i 127.0.0.1 -p $((PORT + 100)) -mi 127.0.0.1 -mp $((PORT + 200)) \
		-d 1000 -nostdin -bg -trace_stat -stf "$WORK/$name-stat.csv" > /dev/null 2>&1 || true
	: > "$WORK/$name-rss.txt"
	for t in $(seq 10 10 "$SECONDS_"); do
		sleep 10
		echo "$t $(awk '/VmRSS/ {print $2}' /proc/$pid/status)" >> "$WORK/$name-rss.txt"
	done
	pkill -f "sipp 127.0.0.1:$PORT" || true
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

run now "$WORK/deflectd-now"
sleep 5
run base "$WORK/deflectd-base"

for name in now base; do
	at60=$(awk '$1==60 {print $2}' "$WORK/$name-rss.txt")
	end=$(tail -1 "$WORK/$name-rss.txt" | awk '{print $2}')
	printf '%-5s RSS at 60 s %6d KiB, at %d s %6d KiB, ratio %.2f\n' "$name" "$at60" "$SECONDS_" "$end" "$(echo "$end / $at60" | bc -l)"
done
