#!/usr/bin/env bash
# Load harness for deflectd and the diago peer: sipp callers on loopback, bounded in time.
#
#   run.sh held    [deflectd|peer]   held calls: answer, offer prompt playing, caller hangs up after HOLD s
#   run.sh deflect [deflectd|peer]   full deflection: INVITE, offer, DTMF 1 (sip-tester pcap), wait for
#                                    the gateway's BYE carrying X-Deflect-Result: deflected
#   run.sh compare [held|deflect]    the same load against deflectd, then the peer; prints the ratios
#   run.sh table   [held|deflect]    reprints the last comparison from $WORK
#
# Environment (defaults make a smoke run of < 1 min):
#   RATE=50 calls/s   CALLS=200 calls   LIMIT=CALLS concurrent cap   HOLD=8 s (held)
#   DIGIT_WAIT=1000 ms before pressing 1 (deflect)   PROBE=10 rtpprobe calls (0 = none)
#   PORT=5080 gateway SIP port   WORK=/tmp/deflectd-loadtest   SLACK=60 s added to the time bound
#   NICE=-10 niceness of gateway, sipp and probe   PPROF=host:port (deflectd admin_listen, peer -pprof):
#   then cpu.pprof (PROFILE_SECONDS=5 from the peak) and heap.pprof are saved with the run
#   BIN_DEFLECTD / BIN_PEER / BIN_PROBE: prebuilt binaries instead of go build
#   WA_LATENCY=150ms: the sandbox Graph API's answer delay (whatsapp.sandbox.latency; Meta ~100-300 ms)
#
# Big runs on a 2-core machine (sipp and the gateway share the cores):
#   RATE=625 CALLS=5000 LIMIT=6000 HOLD=8 deploy/loadtest/run.sh compare held   # 5000 concurrent
#   RATE=200 CALLS=12000 LIMIT=5000 deploy/loadtest/run.sh deflect deflectd     # 200 cps for 60 s
# Exit status: 0 when every sipp call (and every probe call) succeeded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RATE=${RATE:-50}
CALLS=${CALLS:-200}
LIMIT=${LIMIT:-$CALLS}
HOLD=${HOLD:-8}
DIGIT_WAIT=${DIGIT_WAIT:-1000}
PROBE=${PROBE:-10}
PORT=${PORT:-5080}
WORK=${WORK:-/tmp/deflectd-loadtest}
PPROF=${PPROF:-}
SLACK=${SLACK:-60}
PROFILE_SECONDS=${PROFILE_SECONDS:-5}
WA_LATENCY=${WA_LATENCY:-150ms}
# NICE=-10 runs the gateway, sipp and rtpprobe at that niceness (root), both gateways alike, so a
# busy machine's other work disturbs the figures less.
NICE_CMD=()
[[ -n ${NICE:-} ]] && NICE_CMD=(nice -n "$NICE")
# deflectd histograms summarised from /metrics at the end of a run (name suffixes).
METRIC_HISTS=${METRIC_HISTS:-"scheduler_lag_seconds dtmf_to_send_seconds answer_to_confirmation_seconds whatsapp_api_request_duration_seconds"}
# and counters (summed over labels) that flag trouble under load.
METRIC_COUNTERS=${METRIC_COUNTERS:-"rtp_scheduler_skipped_periods_total rtp_send_errors_total rtp_ports_exhausted_total rtp_dtmf_dropped_total ivr_dropped_messages_total sip_guard_dropped_total"}
SIPP_PORT=$((PORT + 100))
MEDIA_PORT=$((PORT + 200))
HTTP_PORT=$((PORT + 300))
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

need() { command -v "$1" >/dev/null || die "$1 not found (apt-get install $2)"; }
need sipp sip-tester
need sox sox

# More descriptors for thousands of RTP sockets; the hard limit may be below 65536 in containers.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

mkdir -p "$WORK"

# ---------------------------------------------------------------- build and prepare

# Both gateways are built like the shipped image (Makefile, deploy/Dockerfile): static, stripped;
# deflectd's nomsgpack tag drops gin's unused MessagePack codec (harmless for the peer).
BUILD_FLAGS=(-trimpath -tags nomsgpack -ldflags "-s -w")

build() {
	if [[ -z ${BIN_DEFLECTD:-} && ${NEED_DEFLECTD:-0} == 1 ]]; then
		log "building deflectd"
		(cd "$ROOT" && CGO_ENABLED=0 go build "${BUILD_FLAGS[@]}" -o "$WORK/deflectd" ./cmd/deflectd)
		BIN_DEFLECTD=$WORK/deflectd
	fi
	if [[ -z ${BIN_PEER:-} && ${NEED_PEER:-0} == 1 ]]; then
		log "building the diago peer"
		(cd "$HERE/peer" && CGO_ENABLED=0 go build "${BUILD_FLAGS[@]}" -o "$WORK/peer" .)
		BIN_PEER=$WORK/peer
	fi
	if [[ -z ${BIN_PROBE:-} && $PROBE -gt 0 ]]; then
		log "building rtpprobe"
		(cd "$HERE/rtpprobe" && go build -o "$WORK/rtpprobe" .)
		BIN_PROBE=$WORK/rtpprobe
	fi
}

# Prompts for the peer: the product's (converted to 8 kHz mono s16 for diago), else espeak-ng.
prompts() {
	local dir=$WORK/prompts src=$ROOT/ivr/media/prompts/en
	mkdir -p "$dir"
	local name text
	for name in offer sent return_queue; do
		case $name in
		offer) text="Your call is important to us. To continue this conversation on WhatsApp, press 1. To stay in the queue, press 2." ;;
		sent) text="We have sent you a WhatsApp message. Goodbye." ;;
		return_queue) text="Returning you to the queue." ;;
		esac
		if [[ -f $src/$name.wav ]]; then
			sox "$src/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$dir/$name.wav"
		else
			need espeak-ng espeak-ng
			espeak-ng -w "$dir/$name.raw.wav" "$text"
			sox "$dir/$name.raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$dir/$name.wav"
			rm -f "$dir/$name.raw.wav"
		fi
	done
}

# Distinct Saudi mobile numbers (deflectd's default region), one per call.
callers() {
	local f=$WORK/callers.csv
	awk -v n="$CALLS" 'BEGIN { print "SEQUENTIAL"; for (i = 1; i <= n; i++) printf "+96650%07d;\n", i }' >"$f"
}

# deflectd config: one UDP listener, a high call cap, a relaxed policy, the sandbox WhatsApp with
# its default (Meta-like) status delay, and menu timing longer than any hold.
deflectd_config() {
	cat >"$1" <<EOF
log:
  level: warn
sip:
  listen: ["udp://127.0.0.1:$PORT"]
  max_calls: 50000
  max_call_duration: 10m
  drain_timeout: 2s
rtp:
  port_min: 20000
  port_max: 39999
http:
  listen: 127.0.0.1:$HTTP_PORT
  admin_listen: "${PPROF}"
whatsapp:
  provider: sandbox
  throughput: 1000
  sandbox:
    latency: $WA_LATENCY
ivr:
  first_digit_timeout: 10m
  offer_repeats: 1000
deflect:
  min_wait: 0s
  cooldown: 0s
  unknown_presence: offer
  max_offers_per_day: 1000000
EOF
}

# ---------------------------------------------------------------- gateway process

GW_PID=
start_gateway() { # gateway rundir
	local gw=$1 dir=$2
	case $gw in
	deflectd)
		deflectd_config "$dir/deflectd.yaml"
		# Only the generated file configures it: drop DEFLECTD_* overrides from our environment.
		local unset=() v
		for v in $(compgen -e | grep '^DEFLECTD_' || true); do unset+=(-u "$v"); done
		"${NICE_CMD[@]}" env "${unset[@]}" "$BIN_DEFLECTD" serve --config "$dir/deflectd.yaml" >"$dir/gateway.log" 2>&1 &
		;;
	peer)
		local pp=()
		[[ -n $PPROF ]] && pp=(-pprof "$PPROF")
		"${NICE_CMD[@]}" "$BIN_PEER" -listen "127.0.0.1:$PORT" -offer "$WORK/prompts/offer.wav" \
			-accepted "$WORK/prompts/sent.wav" -declined "$WORK/prompts/return_queue.wav" \
			-rtp-min 20000 -rtp-max 39999 "${pp[@]}" >"$dir/gateway.log" 2>&1 &
		;;
	*) die "unknown gateway $gw (deflectd|peer)" ;;
	esac
	GW_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		if ss -Hlun "sport = :$PORT" | grep -q .; then
			sleep 0.2
			return 0
		fi
		kill -0 "$GW_PID" 2>/dev/null || { cat "$dir/gateway.log" >&2; die "$gw exited at start"; }
		sleep 0.1
	done
	die "$gw did not listen on udp 127.0.0.1:$PORT within 10 s"
}

stop_gateway() {
	[[ -n $GW_PID ]] || return 0
	kill -TERM "$GW_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$GW_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$GW_PID" 2>/dev/null || true
	wait "$GW_PID" 2>/dev/null || true
	GW_PID=
}
PROBE_PID=
cleanup() {
	[[ -n $PROBE_PID ]] && kill "$PROBE_PID" 2>/dev/null
	stop_gateway
}
trap cleanup EXIT
trap 'exit 143' TERM INT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# ---------------------------------------------------------------- one run

# run_one gateway scenario: starts the gateway, runs sipp (and rtpprobe on a sample), writes
# $dir/results (key=value) and prints it. Returns sipp's failure status.
run_one() {
	local gw=$1 scen=$2
	local dir=$WORK/$gw-$scen
	rm -rf "$dir" && mkdir -p "$dir"
	local xml=$HERE/sipp/load-held.xml d_ms=$((HOLD * 1000))
	if [[ $scen == deflect ]]; then
		xml=$HERE/sipp/load-deflect.xml
		d_ms=$DIGIT_WAIT
	fi
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }'; then
		log "warning: load average $load before the run: other work shares the cores, figures will be off"
	fi
	echo "$load" >"$dir/loadavg"
	start_gateway "$gw" "$dir"
	local t0 c0
	t0=$(date +%s.%N)
	c0=$(cpu_ticks "$GW_PID")
	awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status" >"$dir/idle_rss_kib"

	# Bounded: the ramp, the longest call, and slack for the tail.
	local ramp=$(((CALLS + RATE - 1) / RATE))
	local bound=$((ramp + HOLD + DIGIT_WAIT / 1000 + SLACK))
	log "$gw $scen: rate=$RATE calls=$CALLS limit=$LIMIT hold=${HOLD}s bound=${bound}s"

	if [[ $PROBE -gt 0 ]]; then
		# Start the sample when the ramp is near its peak.
		local peak_at=$(((LIMIT < CALLS ? LIMIT : CALLS) * 8 / (RATE * 10)))
		(sleep "$peak_at" && exec "${NICE_CMD[@]}" "$BIN_PROBE" -target "127.0.0.1:$PORT" -calls "$PROBE" -hold "${HOLD}s" \
			-spread 1s >"$dir/probe.out" 2>"$dir/probe.err") &
		PROBE_PID=$!
	fi

	local prof_pid=
	if [[ -n $PPROF ]]; then
		# CPU profile over PROFILE_SECONDS from the ramp's peak, then the heap at the peak.
		local at=$(((LIMIT < CALLS ? LIMIT : CALLS) * 9 / (RATE * 10)))
		(sleep "$at" && curl -fsS --max-time $((PROFILE_SECONDS + 10)) -o "$dir/cpu.pprof" \
			"http://$PPROF/debug/pprof/profile?seconds=$PROFILE_SECONDS" &&
			curl -fsS --max-time 10 -o "$dir/heap.pprof" "http://$PPROF/debug/pprof/heap" ||
			log "no profile from http://$PPROF/debug/pprof/ ($gw)") &
		prof_pid=$!
	fi
	(
		cd "$dir"
		set +e
		"${NICE_CMD[@]}" timeout -k 5 "$bound" sipp "127.0.0.1:$PORT" -sf "$xml" -inf "$WORK/callers.csv" \
			-r "$RATE" -m "$CALLS" -l "$LIMIT" -d "$d_ms" \
			-i 127.0.0.1 -p "$SIPP_PORT" -mi 127.0.0.1 -mp "$MEDIA_PORT" \
			-nostdin -aa -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1 \
			-trace_screen -screen_file screen.log -trace_err -error_file errors.log \
			-timeout "${bound}s" >sipp.out 2>&1
		echo $? >sipp.rc
		times >sipp.times
	)
	local t1 c1 hwm
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$GW_PID")
	hwm=$(hwm_kib "$GW_PID")
	[[ -n $prof_pid ]] && { wait "$prof_pid" || true; }
	if [[ $gw == deflectd ]]; then
		curl -fsS --max-time 3 "http://127.0.0.1:$HTTP_PORT/metrics" >"$dir/metrics.txt" 2>/dev/null || true
	fi
	local probe_rc=0
	if [[ -n $PROBE_PID ]]; then
		wait "$PROBE_PID" || probe_rc=$?
		PROBE_PID=
	fi
	stop_gateway

	local sipp_rc
	sipp_rc=$(cat "$dir/sipp.rc")
	report "$gw" "$scen" "$dir" "$t0" "$t1" "$c0" "$c1" "$hwm" "$sipp_rc" "$probe_rc" >"$dir/results"
	cat "$dir/results"
	[[ $sipp_rc == 0 && $probe_rc == 0 ]]
}

# pcts RTTFILE RTD NAME: p50/p99/max of one rtd's response times (ms), if it has any.
pcts() {
	awk -F';' -v r="$2" 'NR > 1 && $3 == r { print $2 }' "$1" | sort -n | awk -v name="$3" '
		{ v[NR] = $1 }
		function pct(p,   k) { k = int(NR * p / 100 + 0.999999); if (k < 1) k = 1; return v[k] }
		END { if (NR > 0) printf "%s_p50=%d %s_p99=%d %s_max=%d\n", name, pct(50), name, pct(99), name, v[NR] }'
}

# hist METRICSFILE NAME: count and the bucket bounds holding p50/p99 of a Prometheus histogram whose
# name ends in NAME, summed over its label sets (an upper bound, as fine as the buckets).
hist() {
	awk -v name="$2" '
		$1 ~ "^[a-z_]*" name "_bucket" {
			le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
			sum[le] += $2; if (!(le in seen)) { seen[le] = 1; order[++n] = le }
		}
		END {
			if (n == 0) exit
			total = sum["+Inf"]; if (total == 0) { printf "%s_count=0\n", name; exit }
			# bounds appear in ascending order in the exposition format
			for (i = 1; i <= n; i++) {
				if (p50 == "" && sum[order[i]] >= total * 0.50) p50 = order[i]
				if (p99 == "" && sum[order[i]] >= total * 0.99) p99 = order[i]
			}
			printf "%s_count=%d %s_p50_le=%s %s_p99_le=%s\n", name, total, name, p50, name, p99
		}' "$1"
}

# Reads sipp's stat file, screen and rtt file and the gateway's figures into key=value lines.
report() {
	local gw=$1 scen=$2 dir=$3 t0=$4 t1=$5 c0=$6 c1=$7 hwm=$8 sipp_rc=$9 probe_rc=${10}
	echo "gateway=$gw scenario=$scen rate=$RATE calls=$CALLS limit=$LIMIT hold_s=$HOLD wa_latency=$WA_LATENCY loadavg_before=$(cat "$dir/loadavg")"
	# Last line of the stat file, by column name.
	awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ last = $0; cc = $(col["CurrentCall"]) + 0; if (cc > peak) peak = cc }
		END {
			n = split(last, f, ";")
			printf "successful=%d failed=%d retransmissions=%d created=%d peak_sampled=%d\n",
				f[col["SuccessfulCall(C)"]], f[col["FailedCall(C)"]], f[col["Retransmissions(C)"]],
				f[col["OutgoingCall(C)"]], peak
		}' "$dir/stat.csv"
	# "Peak was N calls" and the INVITE retransmissions from the final screen.
	awk '/Peak was/ { for (i = 1; i <= NF; i++) if ($i == "was") peak = $(i + 1) }
		/INVITE ---------->/ { inv = $4 }
		END { printf "peak_concurrent=%d invite_retrans=%d\n", peak, inv }' "$dir/screen.log"
	# Response times: rtd 1 = INVITE → 200; rtd 2 (deflect) = digit sent → gateway BYE.
	# Achieved call rate: 200 OKs over the time between the first and last of them.
	local rtt
	rtt=$(ls "$dir"/*_rtt.csv 2>/dev/null | head -1 || true)
	if [[ -n $rtt ]]; then
		awk -F';' 'NR > 1 && $3 == 1 { n++; if (n == 1) first = $1; last = $1 }
			END { printf "calls_per_s=%.1f\n", (n > 1 && last > first) ? (n - 1) * 1000 / (last - first) : 0 }' "$rtt"
		pcts "$rtt" 1 invite_200_ms
		pcts "$rtt" 2 digit_bye_ms
	fi
	# Gateway CPU during the load, and peak RSS; sipp's own CPU (children times of the subshell).
	awk -v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" -v hwm="$hwm" -v t0="$t0" -v t1="$t1" -v idle="$(cat "$dir/idle_rss_kib")" 'BEGIN {
		printf "gateway_cpu_s=%.2f gateway_peak_rss_mib=%.1f gateway_idle_rss_mib=%.1f wall_s=%.1f\n",
			(c1 - c0) / hz, hwm / 1024, idle / 1024, t1 - t0 }'
	awk 'NR == 2 { u = $1; s = $2; gsub(/s/, "", u); gsub(/s/, "", s); split(u, a, "m"); split(s, b, "m")
		printf "sipp_cpu_s=%.2f\n", a[1] * 60 + a[2] + b[1] * 60 + b[2] }' "$dir/sipp.times"
	if [[ -s $dir/metrics.txt ]]; then
		local h
		for h in $METRIC_HISTS; do hist "$dir/metrics.txt" "$h"; done
		for h in $METRIC_COUNTERS; do
			awk -v name="$h" '$1 ~ "^[a-z_]*" name "({|$)" { n++; sum += $2 } END { if (n) printf "%s=%d ", name, sum }' "$dir/metrics.txt"
		done
		echo
	fi
	if [[ -s $dir/probe.out ]]; then
		sed 's/^rtpprobe /probe_/; s/ / probe_/g' "$dir/probe.out"
	elif [[ $PROBE -gt 0 ]]; then
		echo "probe_error=$(tail -1 "$dir/probe.err" 2>/dev/null | tr ' ' '_')"
	fi
	echo "sipp_rc=$sipp_rc probe_rc=$probe_rc"
}

# kv FILE KEY: a value from a results file.
kv() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }

compare() {
	local scen=$1
	local a=$WORK/deflectd-$scen/results b=$WORK/peer-$scen/results
	printf '\n%-26s %14s %14s %10s\n' "$scen ($(kv "$a" calls) calls, $(kv "$a" rate)/s)" deflectd peer ratio
	local k va vb
	for k in successful failed invite_retrans retransmissions peak_concurrent calls_per_s \
		invite_200_ms_p99 gateway_cpu_s gateway_peak_rss_mib gateway_idle_rss_mib sipp_cpu_s \
		probe_jitter_p99_ms probe_loss_pct; do
		va=$(kv "$a" "$k")
		vb=$(kv "$b" "$k")
		awk -v k="$k" -v a="${va:-0}" -v b="${vb:-0}" 'BEGIN {
			r = (b + 0 != 0) ? sprintf("%.2f", a / b) : "-"
			printf "%-26s %14s %14s %10s\n", k, a, b, r }'
	done
	local sa sb
	sa=$(kv "$a" successful)
	sb=$(kv "$b" successful)
	awk -v ca="$(kv "$a" gateway_cpu_s)" -v cb="$(kv "$b" gateway_cpu_s)" -v sa="${sa:-0}" -v sb="${sb:-0}" \
		-v ra="$(kv "$a" gateway_peak_rss_mib)" -v rb="$(kv "$b" gateway_peak_rss_mib)" -v pa="$(kv "$a" peak_concurrent)" \
		-v pb="$(kv "$b" peak_concurrent)" -v ia="$(kv "$a" gateway_idle_rss_mib)" -v ib="$(kv "$b" gateway_idle_rss_mib)" 'BEGIN {
		ma = sa > 0 ? ca * 1000 / sa : 0; mb = sb > 0 ? cb * 1000 / sb : 0
		ka = pa > 0 ? ra * 1024 / pa : 0; kb = pb > 0 ? rb * 1024 / pb : 0
		rm = (mb > 0) ? sprintf("%.2f", ma / mb) : "-"
		rk = (kb > 0) ? sprintf("%.2f", ka / kb) : "-"
		xa = pa > 0 ? (ra - ia) * 1024 / pa : 0; xb = pb > 0 ? (rb - ib) * 1024 / pb : 0
		rx = (xb > 0) ? sprintf("%.2f", xa / xb) : "-"
		printf "%-26s %14.2f %14.2f %10s\n", "cpu_ms_per_call", ma, mb, rm
		printf "%-26s %14.1f %14.1f %10s\n", "peak_rss_kib_per_call", ka, kb, rk
		printf "%-26s %14.1f %14.1f %10s\n", "above_idle_kib_per_call", xa, xb, rx }'
}

main() {
	local mode=${1:-held} arg=${2:-}
	case $mode in
	held | deflect)
		local gw=${arg:-deflectd}
		[[ $gw == deflectd ]] && NEED_DEFLECTD=1
		[[ $gw == peer ]] && NEED_PEER=1
		build
		prompts
		callers
		run_one "$gw" "$mode"
		;;
	compare)
		local scen=${arg:-held} rc=0
		NEED_DEFLECTD=1 NEED_PEER=1
		build
		prompts
		callers
		log "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2 }'), $(date -u +%FT%TZ)"
		run_one deflectd "$scen" || rc=1
		sleep 2 # let sockets in TIME_WAIT and the kernel settle between the two runs
		run_one peer "$scen" || rc=1
		compare "$scen"
		return $rc
		;;
	table) compare "${arg:-held}" ;; # reprint the last comparison from $WORK
	*) die "usage: run.sh held|deflect [deflectd|peer] | run.sh compare|table [held|deflect]" ;;
	esac
}

main "$@"
