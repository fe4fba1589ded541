#!/usr/bin/env bash
# Scaling benchmark of the pipeline: S CPU workers of one thread each against one worker of one
# thread, same model, same machine. Measures
#   prefill  prompt tokens/s for one long prompt (its ubatch chunks pipeline through the stages),
#   decode   tokens/s of one stream (one token crosses every stage in turn: no gain expected),
#   aggregate decode tokens/s of STREAMS concurrent streams (micro-batches keep every stage busy),
# and prints the S-worker / 1-worker ratios. The machine needs S + 1 free cores for a fair run.
#
#   bench/cluster_bench.sh [--stages S] [--model M] [--prompt-tokens P] [--decode N]
#                          [--streams K] [--ubatch U]
# Without --model it makes (once) run/bench-1024x16-q8_0.gguf, a model big enough that compute
# dominates: --dim 1024 --layers 16 --heads 16 --kv-heads 4 --ff 4096 --type q8_0 --vocab spm.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
stages=2
model=""
prompt_tokens=1024
decode=64
streams=0  # 0: 2 * S
ubatch=128
while [ $# -gt 0 ]; do
  case "$1" in
    --stages) stages="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --prompt-tokens) prompt_tokens="$2"; shift 2 ;;
    --decode) decode="$2"; shift 2 ;;
    --streams) streams="$2"; shift 2 ;;
    --ubatch) ubatch="$2"; shift 2 ;;
    *) echo "cluster_bench.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ "$streams" != 0 ] || streams=$((2 * stages))
work="$here/run/bench"
mkdir -p "$work"

if [ -z "$model" ]; then
  model="$here/run/bench-1024x16-q8_0.gguf"
  [ -f "$model" ] || "$bin/pipeshard" make-model "$model" --dim 1024 --layers 16 --heads 16 --kv-heads 4 \
    --ff 4096 --ctx 4096 --type q8_0 --vocab spm > /dev/null
fi

# A prompt of about prompt_tokens tokens: one sentence repeated (its token count measured once).
sentence="the river ran past the old mill and the children watched the boats go by in the evening light. "
count_tokens() { "$bin/pipeshard" tokenize --model "$model" --text "$1" --json | grep -o '"tokens":\[[^]]*\]' | tr -cd ',' | wc -c; }
per_sentence=$(( $(count_tokens "$sentence$sentence") - $(count_tokens "$sentence") ))
text=""
for ((i = 0; i < prompt_tokens / per_sentence; i++)); do text+="$sentence"; done
printf '%s' "$text" > "$work/prompt.txt"

field() { grep -o "\"$1\":[0-9.eE+-]*" | head -n 1 | cut -d: -f2; }
ctx=$((prompt_tokens + decode + 64))

# measure WORKERS -> "prefill decode aggregate prompt_tokens"
measure() {
  local k="$1" run_dir="$work/cluster-$1"
  bash "$here/deploy/cluster.sh" up --workers "$k" --threads 1 --model "$model" --ctx "$ctx" \
    --max-seqs "$streams" --ubatch "$ubatch" --run-dir "$run_dir" --timeout 300 > /dev/null
  local server
  server="$(cat "$run_dir/address")"
  # Warm-up: page the weights in on every stage.
  "$bin/pipeshard" generate --server "$server" --prompt "warm up" -n 4 --temp 0 --json > /dev/null

  local prefill_json decode_json
  prefill_json="$("$bin/pipeshard" generate --server "$server" -f "$work/prompt.txt" -n 1 --temp 0 --json)"
  decode_json="$("$bin/pipeshard" generate --server "$server" --prompt "Once upon a time" -n "$decode" \
    --temp 0 --ignore-eos --json)"

  local start end i pids=()
  start=$(date +%s.%N)
  for ((i = 0; i < streams; i++)); do
    "$bin/pipeshard" generate --server "$server" --prompt "Story number $i begins" -n "$decode" --temp 0 \
      --ignore-eos --json > "$work/stream-$k-$i.json" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  end=$(date +%s.%N)
  bash "$here/deploy/cluster.sh" down --run-dir "$run_dir" > /dev/null

  local aggregate
  aggregate=$(awk -v n=$((streams * decode)) -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", n / (e - s) }')
  echo "$(field prefill_tokens_per_s <<< "$prefill_json") $(field decode_tokens_per_s <<< "$decode_json") $aggregate $(field prompt_tokens <<< "$prefill_json")"
}

echo "model $(basename "$model"), $(nproc) cores; prompt ~$prompt_tokens tokens (ubatch $ubatch), decode $decode tokens, $streams concurrent streams"
read -r p1 d1 a1 n1 <<< "$(measure 1)"
read -r pS dS aS nS <<< "$(measure "$stages")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
printf '\n%-28s %14s %14s %8s\n' "" "1 worker" "$stages workers" "ratio"
printf '%-28s %14.2f %14.2f %8s\n' "prefill tok/s ($n1 tokens)" "$p1" "$pS" "$(ratio "$pS" "$p1")"
printf '%-28s %14.2f %14.2f %8s\n' "decode tok/s, 1 stream" "$d1" "$dS" "$(ratio "$dS" "$d1")"
printf '%-28s %14.2f %14.2f %8s\n' "decode tok/s, $streams streams" "$a1" "$aS" "$(ratio "$aS" "$a1")"
