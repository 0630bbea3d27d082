#!/bin/sh
# Saves screenshots of the agent console and the supervisor view under docs/screenshots (the
# README shows them). It runs the first-run walkthrough in headless Chromium: the embedded
# default, a deflected call, the demo agent's and supervisor's sign-in links.
set -eu
cd "$(dirname "$0")/../.."
SCREENSHOTS_DIR="$PWD/docs/screenshots" go test ./cmd/deflectd -run '^TestFirstRunConsoleInChromium$' -count=1
ls -l docs/screenshots
