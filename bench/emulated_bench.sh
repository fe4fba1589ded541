#!/usr/bin/env bash
# The simulator against emulated clusters: S workers of `--device sim:DEVICE` (real processes,
# protocol, scheduler and gRPC hops; each micro-batch waits its modelled time instead of
# computing) measured by `pipeshard bench --server`, beside `plan --simulate` for the same
# cluster ("SxDEVICE loopback": emulated stages talk gRPC over loopback). Every figure here is of
# EMULATED devices, not of real ones.
#
#   bench/emulated_bench.sh [--stages "2 4 8"] [--device P40] [--model M] [--rounds R]
#
# Without --model it uses (and makes once) run/bench-medium-q8_0.gguf (make-model --preset medium
# --type q8_0); the weights are never read by the emulated workers, only the shapes.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
stages="2 4 8"
device=P40
model=""
rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --stages) stages="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "emulated_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v jq > /dev/null || { echo "emulated_bench.sh: needs jq (apt install jq)" >&2; exit 1; }
if [ -z "$model" ]; then
  model="$here/run/bench-medium-q8_0.gguf"
  [ -f "$model" ] || "$bin/pipeshard" make-model "$model" --preset medium --type q8_0 --ctx 4096 > /dev/null
fi
work="$here/run/bench/emulated"
mkdir -p "$work"
trap 'bash "$here/deploy/cluster.sh" down --run-dir "$work" > /dev/null 2>&1 || true' EXIT
error() { awk -v p="$1" -v m="$2" 'BEGIN { printf "%+.1f%%", (m > 0 ? 100 * (p - m) / m : 0) }'; }

rows=()
for s in $stages; do
  bash "$here/deploy/cluster.sh" up --workers "$s" --device "sim:$device" --model "$model" --ctx 1152 --max-seqs 4 \
    --run-dir "$work" --timeout 120 > /dev/null
  json="$("$bin/pipeshard" bench --server "$(cat "$work/address")" -p 1024 -n 64 -r "$rounds" --streams 4 --json)"
  bash "$here/deploy/cluster.sh" down --run-dir "$work" > /dev/null
  mp="$(jq .prefill_tokens_per_s <<< "$json")"; md="$(jq .decode_tokens_per_s <<< "$json")"
  ma="$(jq .aggregate_decode_tokens_per_s <<< "$json")"
  pp="$("$bin/pipeshard" plan --simulate --model "$model" --cluster "${s}x$device loopback" --ctx 1152 --json \
    --prompt-tokens 1024 --gen-tokens 1 --ubatch auto | jq ".by_devices[$((s - 1))].prefill_tokens_per_s")"
  pd="$("$bin/pipeshard" plan --simulate --model "$model" --cluster "${s}x$device loopback" --ctx 1152 --json \
    --prompt-tokens 5 --gen-tokens 64 | jq ".by_devices[$((s - 1))].decode_tokens_per_s")"
  pa="$("$bin/pipeshard" plan --simulate --model "$model" --cluster "${s}x$device loopback" --ctx 1152 --json \
    --prompt-tokens 6 --gen-tokens 64 --concurrency 4 | jq ".by_devices[$((s - 1))].aggregate_decode_tokens_per_s")"
  rows+=("$(printf '%2s  %-22s %12.1f %12.1f %8s' "$s" "prefill (1024 tokens)" "$mp" "$pp" "$(error "$pp" "$mp")")")
  rows+=("$(printf '%2s  %-22s %12.2f %12.2f %8s' "$s" "decode, 1 stream" "$md" "$pd" "$(error "$pd" "$md")")")
  rows+=("$(printf '%2s  %-22s %12.2f %12.2f %8s' "$s" "aggregate, 4 streams" "$ma" "$pa" "$(error "$pa" "$ma")")")
done
echo "model $(basename "$model"); EMULATED sim:$device workers on $(nproc) cores; bench --server -r $rounds"
printf '%2s  %-22s %12s %12s %8s\n' "S" "tok/s" "emulated" "predicted" "error"
printf '%s\n' "${rows[@]}"
