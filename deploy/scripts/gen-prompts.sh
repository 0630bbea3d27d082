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
	espeak-ng -v "$voice" -s 160 -w "$tmp/raw.wav" -- "$text"
	# Trim leading/trailing silence, normalise to -3 dBFS, resample to telephone format.
	sox -D -V1 "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$lang/$name.wav" \
		silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3 pad 0.1 0.2
}

# Budget: a caller who presses nothing is back in the queue within 20 s of the answer: the offer
# (at most 8 s, a test checks) + ivr.first_digit_timeout (6 s) + return_queue. Keep offers short.
say en en-us offer "To continue on WhatsApp without losing your place, press 1. To stay in the queue, press 2."
say en en-us sent "We have sent you a WhatsApp message. You can continue the conversation there."
say en en-us return_queue "Back to the queue. You keep your place."
say en en-us not_reachable "We could not reach you on WhatsApp. Back to the queue, you keep your place."
say en en-us invalid "Sorry, that is not a valid choice."
say en en-us goodbye "Thank you for calling. Goodbye."

say ar ar offer "للانتقال إلى واتساب مع الاحتفاظ بدورك، اضغط واحد. للبقاء في الانتظار، اضغط اثنين."
say ar ar sent "أرسلنا إليك رسالة على واتساب. تابع المحادثة هناك."
say ar ar return_queue "نعيدك إلى الانتظار، ودورك محفوظ."
say ar ar not_reachable "تعذر الوصول إليك عبر واتساب. نعيدك إلى الانتظار، ودورك محفوظ."
say ar ar invalid "عذرا، هذا اختيار غير صحيح."
say ar ar goodbye "شكرا لاتصالك. مع السلامة."

# French, the third language: espeak-ng's fr voice renders these clearly (listened to here); Urdu
# was not tried.
say fr fr offer "Pour continuer sur WhatsApp sans perdre votre place, tapez 1. Pour rester en attente, tapez 2."
say fr fr sent "Nous vous avons envoyé un message WhatsApp. Vous pouvez continuer la conversation là-bas."
say fr fr return_queue "Retour à la file d'attente. Vous gardez votre place."
say fr fr not_reachable "Nous n'avons pas pu vous joindre sur WhatsApp. Retour à la file d'attente, vous gardez votre place."
say fr fr invalid "Désolé, ce choix n'est pas valide."
say fr fr goodbye "Merci de votre appel. Au revoir."

echo "gen-prompts: wrote $(find "$out" -name '*.wav' | wc -l) files, $(du -sh "$out" | cut -f1) to $out"
