#!/usr/bin/env bash
# Regenerates bench/RESULTS.md from the sessions in bench/results/*.jsonl
# (see bench/mkresults for the format).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/mkresults "$@"
