#!/usr/bin/env bash
# How stage-one training scales from one core to two, and how much two
# cores can give at all on this machine. Each round measures, back to back:
#
#   p1     one vqgen process with GOMAXPROCS=1
#   p2     one vqgen process with GOMAXPROCS=2 (the figure users get)
#   pair   two independent GOMAXPROCS=1 processes at the same time, summed:
#          the most two cores deliver for this work with no sharing at all
#          between them (both run --time long, so they overlap throughout)
#
# (p1 and p2 in alternating order) and prints p2/p1 and pair/p1 per round,
# then the medians. On a virtual
# machine the second figure is the ceiling for the first: when the two
# vCPUs slow each other down (shared caches, memory, power), no
# parallelisation inside one process can beat the pair.
#
# Usage: [JSONL=FILE] bench/scaling.sh [ROUNDS] [SECONDS]
# With JSONL set, the rounds also go to FILE as JSON lines for
# bench/results.sh (a session under bench/results/).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-10}
go build -o /tmp/vqgen-scaling ./cmd/vqgen
value() {
  /usr/bin/env python3 -c 'import json,sys; print(sum(json.loads(l)["value"] for l in sys.stdin if json.loads(l)["name"]=="train_vqvae_img_s"))'
}
run() { GOMAXPROCS=$1 /tmp/vqgen-scaling bench pipeline --only train_vqvae_img_s --json --time "${secs}s"; }
r2=() rp=()
jsonl=${JSONL:-/dev/null}
printf '{"comment": "JSONL=%s bench/scaling.sh %s %s: stage-one training images/s on one core (p1), two (p2) and two one-core processes at once (pair); %s"}\n' \
  "$jsonl" "$rounds" "$secs" "$(/tmp/vqgen-scaling version | tr '\n' ' ' | sed 's/ *$//')" >> "$jsonl"
printf '%-6s %10s %10s %8s %10s %8s\n' round p1_img_s p2_img_s p2/p1 pair_img_s pair/p1
for r in $(seq 1 "$rounds"); do
  # Alternate which setting goes first, so that neither always follows
  # the two-core load of the round before.
  if (( r % 2 )); then
    p1=$(run 1 | value)
    p2=$(run 2 | value)
  else
    p2=$(run 2 | value)
    p1=$(run 1 | value)
  fi
  pair=$( (run 1 & run 1; wait) | value)
  a=$(python3 -c "print(round($p2/$p1, 3))")
  b=$(python3 -c "print(round($pair/$p1, 3))")
  r2+=("$a") rp+=("$b")
  printf '%-6s %10.1f %10.1f %8.3f %10.1f %8.3f\n' "$r" "$p1" "$p2" "$a" "$pair" "$b"
  for kv in "p1 $p1 images/s" "p2 $p2 images/s" "p2/p1 $a x" "pair $pair images/s" "pair/p1 $b x"; do
    set -- $kv
    printf '{"name": "%s", "value": %s, "unit": "%s", "round": %d}\n' "$1" "$2" "$3" "$r" >> "$jsonl"
  done
done
python3 -c "import statistics,sys; n=len(sys.argv)//2; print('median p2/p1', statistics.median(map(float, sys.argv[1:1+n])), ' median pair/p1', statistics.median(map(float, sys.argv[1+n:])))" "${r2[@]}" "${rp[@]}"
