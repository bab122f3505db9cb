#!/usr/bin/env bash
# Stage-one training speed of vqgen against the PyTorch reference
# (../shared/reference/torch_vqvae.py, the same network as configs/mnist.toml,
# batch 128), alternating the two for several rounds in one run so that a
# noisy machine slows both alike. Prints each round's images/s and ratio,
# then the median ratio.
#
# Usage: [JSONL=FILE] bench/compare.sh [ROUNDS] [THREADS]
# With JSONL set, the rounds also go to FILE as JSON lines for
# bench/results.sh (a session under bench/results/).
# Needs Debian's python3-torch, python3-numpy (run with /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
threads=${2:-2}
ref=${REFERENCE:-../shared/reference/torch_vqvae.py}
steps=${REF_STEPS:-60}
[ -f "$ref" ] || { echo "compare.sh: no reference script at $ref (set REFERENCE)" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "compare.sh: /usr/bin/python3 cannot import torch: apt-get install python3-torch python3-numpy" >&2; exit 1; }
go build -o /tmp/vqgen-compare ./cmd/vqgen
ratios=()
jsonl=${JSONL:-/dev/null}
printf '{"comment": "JSONL=%s bench/compare.sh %s %s (REF_STEPS=%s): stage-one training images/s of vqgen against the PyTorch reference, alternating rounds; %s"}\n' \
  "$jsonl" "$rounds" "$threads" "$steps" "$(/tmp/vqgen-compare version | tr '\n' ' ' | sed 's/ *$//')" >> "$jsonl"
printf '%-6s %14s %14s %8s\n' round vqgen_img_s torch_img_s ratio
for r in $(seq 1 "$rounds"); do
  ours=$(GOMAXPROCS=$threads /tmp/vqgen-compare bench pipeline --only train_vqvae_img_s --json --time 20s |
    /usr/bin/python3 -c 'import json,sys; print([json.loads(l)["value"] for l in sys.stdin if json.loads(l)["name"]=="train_vqvae_img_s"][0])')
  theirs=$(/usr/bin/python3 "$ref" --mnist datasets/mnist --steps "$steps" --batch 128 --threads "$threads" --data-init --restart |
    /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["train_img_per_s"])')
  ratio=$(/usr/bin/python3 -c "print(round($ours/$theirs, 3))")
  ratios+=("$ratio")
  printf '%-6s %14.1f %14.1f %8.3f\n' "$r" "$ours" "$theirs" "$ratio"
  printf '{"name": "vqgen", "value": %s, "unit": "images/s", "round": %d}\n{"name": "pytorch", "value": %s, "unit": "images/s", "round": %d}\n{"name": "ratio", "value": %s, "unit": "x", "round": %d}\n' \
    "$ours" "$r" "$theirs" "$r" "$ratio" "$r" >> "$jsonl"
done
/usr/bin/python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
