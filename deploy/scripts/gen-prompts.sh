#!/usr/bin/env bash
# Generates the IVR's default prompts reproducibly with espeak-ng + sox:
# 8 kHz, mono, 16-bit PCM WAV, written to ivr/media/prompts/<lang>/<name>.wav (embedded by go:embed).
# Re-run after changing a text; commit the output. Recorded overrides go in ivr.prompts_dir instead.
#
#   deploy/scripts/gen-prompts.sh [OUTDIR]      (default: ivr/media/prompts beside this repo root)
#
# Reproducible: espeak-ng is deterministic for a given version and voice, and sox runs without
# dither (-D) so the same inputs give byte-identical files.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$root/ivr/media/prompts"}

for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || { echo "gen-prompts: $tool not found (apt-get install espeak-ng sox)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say LANG VOICE NAME TEXT
say() {
	local lang=$1 voice=$2 name=$3 text=$4
	mkdir -p "$out/$lang"
	espeak-ng -v "$voice" -s 150 -w "$tmp/raw.wav" -- "$text"
	# Trim leading/trailing silence, normalise to -3 dBFS, resample to telephone format.
	sox -D -V1 "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$lang/$name.wav" \
		silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3 pad 0.1 0.2
}

say en en-us offer "You can continue with us on WhatsApp without losing your turn. Press 1 to receive a WhatsApp message now, or 2 to stay in the queue."
say en en-us sent "We have sent you a WhatsApp message. You can continue the conversation there."
say en en-us return_queue "No problem. We are returning you to the queue, and you keep your place."
say en en-us not_reachable "Sorry, we could not reach you on WhatsApp. We are returning you to the queue."
say en en-us invalid "Sorry, that is not a valid choice."
say en en-us goodbye "Thank you for calling. Goodbye."

say ar ar offer "يمكنك المتابعة معنا عبر واتساب دون أن تفقد دورك. اضغط واحد لتلقي رسالة واتساب الآن، أو اثنين للبقاء في قائمة الانتظار."
say ar ar sent "لقد أرسلنا إليك رسالة على واتساب. يمكنك متابعة المحادثة هناك."
say ar ar return_queue "لا مشكلة. سنعيدك الآن إلى قائمة الانتظار مع الاحتفاظ بدورك."
say ar ar not_reachable "عذرا، لم نتمكن من الوصول إليك عبر واتساب. سنعيدك إلى قائمة الانتظار."
say ar ar invalid "عذرا، هذا اختيار غير صحيح."
say ar ar goodbye "شكرا لاتصالك. مع السلامة."

echo "gen-prompts: wrote $(find "$out" -name '*.wav' | wc -l) files, $(du -sh "$out" | cut -f1) to $out"
