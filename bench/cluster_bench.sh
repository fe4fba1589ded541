#!/usr/bin/env bash
# Scaling benchmark of the pipeline: S CPU workers of one thread each against one worker of one
# thread, same model, same machine, with the prompt chunking and the layer split the coordinator
# chooses (no --ubatch). Both clusters stay up and the runs alternate between them, round after
# round; the figures are medians over the rounds. Per round and cluster, `pipeshard bench
# --server` measures
#   prefill    prompt tokens/s of one long prompt (its chunks pipeline through the stages), for
#              each --prompt-tokens length,
#   decode     tokens/s of one stream (a token crosses every stage in turn: no gain expected),
#   aggregate  tokens/s of STREAMS concurrent streams (decode groups keep every stage busy),
# and the S-worker cluster's busy fraction per stage during its last long prefill. The last round
# writes a Chrome trace of the S-worker cluster to run/bench/trace-S<S>-<P>.json.
#
#   bench/cluster_bench.sh [--stages S] [--model M] [--prompt-tokens "1024 2048"] [--decode N]
#                          [--streams K] [--rounds R] [--ubatch U (a fixed chunk instead)]
# Without --model it makes (once) run/bench-1024x16-q8_0-llama3.gguf, a 0.5B-shaped model with
# the Llama 3 vocabulary: --dim 1024 --layers 16 --heads 16 --kv-heads 4 --ff 4096 --type q8_0.
# The machine needs S + 1 free cores for a fair run.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
stages=2
model=""
prompts="1024 2048"
decode=64
streams=0  # 0: 2 * S
rounds=3
ubatch=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stages) stages="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --prompt-tokens) prompts="$2"; shift 2 ;;
    --decode) decode="$2"; shift 2 ;;
    --streams) streams="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --ubatch) ubatch="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster_bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$streams" != 0 ] || streams=$((2 * stages))
work="$here/run/bench"
mkdir -p "$work"

if [ -z "$model" ]; then
  model="$here/run/bench-1024x16-q8_0-llama3.gguf"
  [ -f "$model" ] || "$bin/pipeshard" make-model "$model" --dim 1024 --layers 16 --heads 16 --kv-heads 4 \
    --ff 4096 --ctx 4096 --type q8_0 --vocab llama3 > /dev/null
fi
longest=0
for p in $prompts; do [ "$p" -gt "$longest" ] && longest=$p; done
ctx=$((longest + decode + 64))

dirs=()
cleanup() {
  for d in "${dirs[@]}"; do bash "$here/deploy/cluster.sh" down --run-dir "$d" > /dev/null 2>&1 || true; done
}
trap cleanup EXIT

# up WORKERS: starts a fresh cluster (stopping one left in its folder) and sets `address`.
up() {
  local dir="$work/cluster-$1"
  dirs+=("$dir")
  bash "$here/deploy/cluster.sh" down --run-dir "$dir" > /dev/null 2>&1 || true
  bash "$here/deploy/cluster.sh" up --workers "$1" --threads 1 --model "$model" --ctx "$ctx" \
    --max-seqs "$streams" --run-dir "$dir" --timeout 300 --ubatch "$ubatch" > /dev/null
  address="$(cat "$dir/address")"
}
up 1; one="$address"
up "$stages"; many="$address"

field() { grep -o "\"$1\":[0-9.eE+-]*" | head -n 1 | cut -d: -f2; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }

declare -A runs
busy=""
for ((r = 1; r <= rounds; r++)); do
  for p in $prompts; do
    for k in 1 "$stages"; do
      server="$one"; [ "$k" = 1 ] || server="$many"
      trace=()
      if [ "$r" = "$rounds" ] && [ "$k" != 1 ]; then trace=(--trace "$work/trace-S$k-$p.json"); fi
      s=0; [ "$p" = "$longest" ] || s=$streams  # the aggregate test once per round
      json="$("$bin/pipeshard" bench --server "$server" -p "$p" -n "$decode" -r 1 --streams "$s" --json "${trace[@]}")"
      runs[prefill-$p-$k]+=" $(field prefill_tokens_per_s <<< "$json")"
      runs[decode-$k]+=" $(field decode_tokens_per_s <<< "$json")"
      [ "$s" = 0 ] || runs[aggregate-$k]+=" $(field aggregate_decode_tokens_per_s <<< "$json")"
      if [ "$k" != 1 ] && [ "$p" = "$longest" ]; then
        busy="$(grep -o '"prefill_stage_busy":{[^}]*}' <<< "$json" | sed 's/"prefill_stage_busy"://')"
      fi
    done
  done
done

echo "model $(basename "$model"), $(nproc) cores, $rounds alternating rounds (medians); decode $decode tokens," \
  "$streams concurrent streams; split chosen by the coordinator, prompt chunks $([ "$ubatch" = 0 ] && echo "chosen by it" || echo "fixed at $ubatch")"
"$bin/pipeshard" status --server "$many" --wide | grep -E '^(workload|predicted \(|[0-9]+ )' || true
printf '\n%-30s %12s %12s %8s\n' "" "1 worker" "$stages workers" "ratio"
for p in $prompts; do
  a="$(median <<< "${runs[prefill-$p-1]}")"; b="$(median <<< "${runs[prefill-$p-$stages]}")"
  printf '%-30s %12.2f %12.2f %8s\n' "prefill tok/s ($p tokens)" "$a" "$b" "$(ratio "$b" "$a")"
done
a="$(median <<< "${runs[decode-1]}")"; b="$(median <<< "${runs[decode-$stages]}")"
printf '%-30s %12.2f %12.2f %8s\n' "decode tok/s, 1 stream" "$a" "$b" "$(ratio "$b" "$a")"
a="$(median <<< "${runs[aggregate-1]}")"; b="$(median <<< "${runs[aggregate-$stages]}")"
printf '%-30s %12.2f %12.2f %8s\n' "decode tok/s, $streams streams" "$a" "$b" "$(ratio "$b" "$a")"
echo "stage busy during the last $longest-token prefill on $stages workers: $busy"
echo "traces: $work/trace-S$stages-*.json"
