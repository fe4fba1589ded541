#!/usr/bin/env bash
# Prediction against measurement on real compute: `plan --simulate` priced with this host's
# measured profile (`bench --profile --threads 1`) against bench/cluster_bench.sh's measured
# clusters of 1 and 2 one-thread CPU workers, for the 0.5B shape (make-model --preset medium) in
# each --types weight type. Compared: prefill tok/s of a 1024-token prompt, decode tok/s of one
# stream, and aggregate tok/s of 4 concurrent 64-token streams, each as bench --server measures
# them (decode and aggregate after the short prompts it sends, so they are simulated with such).
#
#   bench/predict_bench.sh [--types "q8_0 q4_k"] [--rounds R] [--profile FILE (skip measuring)]
#
# The profile is measured right before the clusters run: on a shared machine both drift, so
# quote one run's table whole. Needs 3 free cores for a fair run (2 workers and the coordinator).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
types="q8_0 q4_k"
rounds=3
profile=""
while [ $# -gt 0 ]; do
  case "$1" in
    --types) types="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "predict_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v jq > /dev/null || { echo "predict_bench.sh: needs jq (apt install jq)" >&2; exit 1; }
work="$here/run/bench"
mkdir -p "$work"
if [ -z "$profile" ]; then
  profile="$work/host-profile.json"
  "$bin/pipeshard" bench --profile --threads 1 --profile-types "$(tr ' ' ',' <<< "$types")" -o "$profile"
fi

sim() { "$bin/pipeshard" plan --simulate --catalog "$profile" --cluster "2xthis-host loopback" --ctx 1152 --json "$@"; }
# measured LABEL COLUMN: the 1- or 2-worker figure of cluster_bench's table line LABEL.
measured() { grep -F "$1" <<< "$table" | awk -v c="$2" '{ print $(NF - 3 + c) }'; }
error() { awk -v p="$1" -v m="$2" 'BEGIN { printf "%+.1f%%", (m > 0 ? 100 * (p - m) / m : 0) }'; }

rows=()
for t in $types; do
  model="$here/run/bench-medium-$t.gguf"
  [ -f "$model" ] || "$bin/pipeshard" make-model "$model" --preset medium --type "$t" --ctx 4096 > /dev/null
  table="$(bash "$here/bench/cluster_bench.sh" --stages 2 --model "$model" --prompt-tokens "512 1024" --decode 64 \
    --streams 4 --rounds "$rounds")"
  echo "$table"
  decode_json="$(sim --model "$model" --prompt-tokens 5 --gen-tokens 64)"
  aggregate_json="$(sim --model "$model" --prompt-tokens 6 --gen-tokens 64 --concurrency 4)"
  for s in 1 2; do
    prefill_json="$(sim --model "$model" --prompt-tokens 1024 --gen-tokens 1 --ubatch auto)"
    p="$(jq ".by_devices[$((s - 1))].prefill_tokens_per_s" <<< "$prefill_json")"
    d="$(jq ".by_devices[$((s - 1))].decode_tokens_per_s" <<< "$decode_json")"
    a="$(jq ".by_devices[$((s - 1))].aggregate_decode_tokens_per_s" <<< "$aggregate_json")"
    mp="$(measured "prefill tok/s (1024 tokens)" "$s")"
    md="$(measured "decode tok/s, 1 stream" "$s")"
    ma="$(measured "decode tok/s, 4 streams" "$s")"
    rows+=("$(printf '%-6s %2s  %-22s %10.1f %10.1f %8s' "$t" "$s" "prefill (1024 tokens)" "$mp" "$p" "$(error "$p" "$mp")")")
    rows+=("$(printf '%-6s %2s  %-22s %10.2f %10.2f %8s' "$t" "$s" "decode, 1 stream" "$md" "$d" "$(error "$d" "$md")")")
    rows+=("$(printf '%-6s %2s  %-22s %10.2f %10.2f %8s' "$t" "$s" "aggregate, 4 streams" "$ma" "$a" "$(error "$a" "$ma")")")
  done
done
echo
echo "profile: $profile"
printf '%-6s %2s  %-22s %10s %10s %8s\n' "type" "S" "tok/s" "measured" "predicted" "error"
printf '%s\n' "${rows[@]}"
