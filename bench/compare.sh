#!/usr/bin/env bash
# Training speed of vqgen against the PyTorch references in
# ../shared/reference, alternating the two for several rounds in one run so
# that a noisy machine slows both alike. Prints each round's throughput and
# ratio per case, then the median ratio of each case.
#
# Cases (the same shapes on both sides: configs/mnist.toml's models, batch
# 128, K = 512, 10 classes):
#   vqvae          stage-one training (torch_vqvae.py), images/s
#   transformer7   Transformer prior, 7x7 grids (torch_transformer_prior.py)
#   transformer16  the same on 16x16 grids
#   pixelcnn7      gated PixelCNN prior, 7x7 grids (torch_pixelcnn_prior.py)
#   pixelcnn16     the same on 16x16 grids
#   priors         the four prior cases; all: every case
#
# Usage: [JSONL=FILE] bench/compare.sh [ROUNDS] [THREADS] [CASE...]   (default: 5 2 vqvae)
# With JSONL set, the rounds also go to FILE as JSON lines for
# bench/results.sh (a session under bench/results/): CASE_vqgen,
# CASE_vqgen_gflops, CASE_pytorch and CASE_ratio per round.
# Environment: REF_DIR (default ../shared/reference, else
# ../../shared/reference), REF_STEPS (PyTorch steps per round; default 60
# for vqvae, 30 at 7x7, 4 at 16x16), TIME (our minimum time per round,
# default 20s).
# Needs Debian's python3-torch, python3-numpy (run with /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
threads=${2:-2}
shift $(( $# < 2 ? $# : 2 ))
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(vqvae)
expanded=()
for c in "${cases[@]}"; do
  case $c in
    priors) expanded+=(transformer7 transformer16 pixelcnn7 pixelcnn16) ;;
    all) expanded+=(vqvae transformer7 transformer16 pixelcnn7 pixelcnn16) ;;
    vqvae|transformer7|transformer16|pixelcnn7|pixelcnn16) expanded+=("$c") ;;
    *) echo "compare.sh: unknown case $c (want vqvae, transformer7, transformer16, pixelcnn7, pixelcnn16, priors or all)" >&2; exit 2 ;;
  esac
done
refdir=${REF_DIR:-../shared/reference}
# A worktree one level further down (wt/NAME) finds it one level up.
[ -n "${REF_DIR:-}" ] || [ -d "$refdir" ] || refdir=../../shared/reference
ourtime=${TIME:-20s}
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "compare.sh: /usr/bin/python3 cannot import torch: apt-get install python3-torch python3-numpy" >&2; exit 1; }
go build -o /tmp/vqgen-compare ./cmd/vqgen

# case_spec CASE prints: our benchmark name, its unit, reference script, its arguments.
case_spec() {
  case $1 in
    vqvae) echo "train_vqvae_img_s images/s torch_vqvae.py --mnist datasets/mnist --batch 128 --data-init --restart --steps ${REF_STEPS:-60}" ;;
    transformer7) echo "train_prior_transformer_grids_s grids/s torch_transformer_prior.py --grid 7 --batch 128 --steps ${REF_STEPS:-30}" ;;
    transformer16) echo "train_prior_transformer_16x16_grids_s grids/s torch_transformer_prior.py --grid 16 --batch 128 --steps ${REF_STEPS:-4}" ;;
    pixelcnn7) echo "train_prior_pixelcnn_grids_s grids/s torch_pixelcnn_prior.py --grid 7 --batch 128 --steps ${REF_STEPS:-30}" ;;
    pixelcnn16) echo "train_prior_pixelcnn_16x16_grids_s grids/s torch_pixelcnn_prior.py --grid 16 --batch 128 --steps ${REF_STEPS:-4}" ;;
  esac
}

# ours NAME prints the figure and its GFLOP/s.
ours() {
  GOMAXPROCS=$threads /tmp/vqgen-compare bench pipeline --only "$1" --json --time "$ourtime" |
    /usr/bin/python3 -c 'import json,sys; n=sys.argv[1]; d={l["name"]: l["value"] for l in map(json.loads, sys.stdin)}; print(d[n], d.get(n+"_gflops", 0))' "$1"
}

theirs() {
  local script=$1; shift
  [ -f "$refdir/$script" ] || { echo "compare.sh: no reference script at $refdir/$script (set REF_DIR)" >&2; exit 1; }
  /usr/bin/python3 "$refdir/$script" "$@" --threads "$threads" |
    /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d.get("train_img_per_s", d.get("train_grids_per_s")))'
}

jsonl=${JSONL:-/dev/null}
printf '{"comment": "JSONL=%s REF_STEPS=%s TIME=%s bench/compare.sh %s %s %s: training speed of vqgen against the PyTorch references, alternating rounds; %s; load average at start %s"}\n' \
  "$jsonl" "${REF_STEPS:-default}" "$ourtime" "$rounds" "$threads" "${expanded[*]}" \
  "$(/tmp/vqgen-compare version | tr '\n' ' ' | sed 's/ *$//')" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$jsonl"
declare -A ratios
printf '%-14s %-6s %14s %10s %14s %8s %s\n' case round vqgen_per_s gflops torch_per_s ratio load
for r in $(seq 1 "$rounds"); do
  for c in "${expanded[@]}"; do
    read -r name unit script args <<<"$(case_spec "$c")"
    # Alternate which side goes first, so a drift within a round does not
    # favour one of them.
    if (( r % 2 )); then
      read -r a gf <<<"$(ours "$name")"; b=$(theirs "$script" $args)
    else
      b=$(theirs "$script" $args); read -r a gf <<<"$(ours "$name")"
    fi
    ratio=$(/usr/bin/python3 -c "print(round($a/$b, 3))")
    ratios[$c]="${ratios[$c]:-} $ratio"
    load=$(cut -d' ' -f1 /proc/loadavg)
    printf '%-14s %-6s %14.1f %10.1f %14.1f %8.3f %s\n' "$c" "$r" "$a" "$gf" "$b" "$ratio" "$load"
    printf '{"name": "%s_vqgen", "value": %s, "unit": "%s", "round": %d}\n{"name": "%s_vqgen_gflops", "value": %s, "unit": "GFLOP/s", "round": %d}\n{"name": "%s_pytorch", "value": %s, "unit": "%s", "round": %d}\n{"name": "%s_ratio", "value": %s, "unit": "x", "round": %d}\n{"name": "%s_load1", "value": %s, "unit": "loadavg", "round": %d}\n' \
      "$c" "$a" "$unit" "$r" "$c" "$gf" "$r" "$c" "$b" "$unit" "$r" "$c" "$ratio" "$r" "$c" "$load" "$r" >> "$jsonl"
  done
done
for c in "${expanded[@]}"; do
  /usr/bin/python3 -c "import statistics,sys; print('%-14s median ratio %.3f over %d rounds' % (sys.argv[1], statistics.median(map(float, sys.argv[2:])), len(sys.argv)-2))" "$c" ${ratios[$c]}
done
