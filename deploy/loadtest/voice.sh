#!/usr/bin/env bash
# Capacity of the WhatsApp voice bridge: CALLS concurrent bridged calls (SDES-SRTP with a Meta
# stand-in, voiceload; plain RTP with sipp echoing the audio as the queue), held DURATION s once
# all are up; deflectd's CPU and RSS are read from /proc over the steady window, and sipp's as the
# peer that handles the same packets with no SRTP. Loopback only.
#
#   deploy/loadtest/voice.sh          CALLS=200 RATE=20 DURATION=60 WORK=/tmp/deflectd-voice
#
# Prints the calls answered, the audio loss, and CPU (% of one core) and µs per relayed packet.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CALLS=${CALLS:-200}
RATE=${RATE:-20}
DURATION=${DURATION:-60}
WORK=${WORK:-/tmp/deflectd-voice}
PORT=${PORT:-25060}
mkdir -p "$WORK"
cd "$WORK"

(cd "$ROOT" && go build -o "$WORK/deflectd" ./cmd/deflectd && go build -o "$WORK/voiceload" ./deploy/loadtest/voiceload)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>/dev/null
PASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

sipp -sf "$HERE/sipp/voice-queue-hold.xml" -i 127.0.0.1 -p $((PORT + 10)) -mi 127.0.0.1 -mp $((PORT + 20)) \
	-rtp_echo -m "$CALLS" -l "$CALLS" -nostdin -timeout $((DURATION + CALLS / RATE + 120))s > sipp.out 2>&1 &
SIPP=$!
env DEFLECTD_SIP_LISTEN=udp://127.0.0.1:$PORT DEFLECTD_HTTP_LISTEN=127.0.0.1:$((PORT + 2)) DEFLECTD_LOG_LEVEL=warn \
	DEFLECTD_VOICE_ENABLED=true DEFLECTD_VOICE_LISTEN=tls://127.0.0.1:$((PORT + 1)) \
	DEFLECTD_VOICE_PBX_TARGET=sip:queue@127.0.0.1:$((PORT + 10)) DEFLECTD_VOICE_PASSWORD=$PASSWORD \
	DEFLECTD_VOICE_TLS_CERT_FILE=cert.pem DEFLECTD_VOICE_TLS_KEY_FILE=key.pem ${ADMIN:+DEFLECTD_HTTP_ADMIN_LISTEN=$ADMIN} \
	./deflectd > deflectd.log 2>&1 &
GW=$!
trap 'kill $GW $SIPP 2>/dev/null || true' EXIT
sleep 2

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

DEFLECTD_CALL_PASSWORD=$PASSWORD ./voiceload -target 127.0.0.1:$((PORT + 1)) -ca cert.pem -calls "$CALLS" \
	-rate "$RATE" -duration "${DURATION}s" > load.out 2> load.err &
LOAD=$!
ramp=$((CALLS / RATE + 5))
sleep "$ramp"
window=$((DURATION - 10))
g0=$(ticks $GW) s0=$(ticks $SIPP) t0=$(date +%s.%N)
sleep "$window"
g1=$(ticks $GW) s1=$(ticks $SIPP) t1=$(date +%s.%N)
rss_kb=$(rss $GW)
active=$(curl -s 127.0.0.1:$((PORT + 2))/metrics 2>/dev/null | awk '/^deflectd_voice_active_calls/ {print $2}' || true)
wait $LOAD
echo "bridged calls during the window: ${active:-?}"
cat load.out
# Where packets went missing: what deflectd relayed each way, against what voiceload sent and got back.
curl -s 127.0.0.1:$((PORT + 2))/metrics | awk '/^deflectd_voice_rtp_packets_total/ {gsub(/.*direction="/, ""); gsub(/"}/, ""); printf "deflectd relayed %s: %s\n", $1, $2} /^deflectd_voice_rtp_dropped_total/ {print "deflectd dropped (SRTP authentication, RTCP, not RTP): " $2}'
awk -v g0="$g0" -v g1="$g1" -v s0="$s0" -v s1="$s1" -v t0="$t0" -v t1="$t1" -v calls="$CALLS" -v rss="$rss_kb" 'BEGIN {
	secs = t1 - t0; pkts = calls * 100 * secs   # 50 packets/s each way per call
	gcpu = (g1 - g0) / 100; scpu = (s1 - s0) / 100
	printf "steady window %.1f s, %d calls, %.0f packets/s relayed\n", secs, calls, calls * 100
	printf "deflectd: %.1f %% of a core, %.2f us per relayed packet (SRTP<->RTP), RSS %.1f MiB\n", 100 * gcpu / secs, 1e6 * gcpu / pkts, rss / 1024
	printf "sipp (peer, echoes the same packets as plain RTP): %.1f %% of a core, %.2f us per packet\n", 100 * scpu / secs, 1e6 * scpu / pkts
}'
