#!/bin/sh
# Regenerates the short test prompts (tones, 8 kHz mono μ-law) used by the ivr tests: a 1 s
# offer, so that timing tests (barge-in, first-digit timeout) stay fast, and 0.2 s for the rest.
set -eu
cd "$(dirname "$0")"
for lang in en ar; do
	mkdir -p "prompts/$lang"
	sox -n -r 8000 -c 1 -e u-law "prompts/$lang/offer.wav" synth 1.0 sine 440 vol 0.3
	for p in sent return_queue not_reachable invalid goodbye; do
		sox -n -r 8000 -c 1 -e u-law "prompts/$lang/$p.wav" synth 0.2 sine 660 vol 0.3
	done
done
