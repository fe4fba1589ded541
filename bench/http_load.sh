#!/usr/bin/env bash
# Load benchmark of the coordinator's OpenAI HTTP API (not a CI test): a local cluster of CPU
# workers (one thread each) on the tiny model with a bounded queue, and CLIENTS concurrent streaming
# clients for SECONDS (bench/http_load.js: each loops over streamed completions of a short prompt,
# max_tokens 32, temperature 0.8). Reports p50/p99 time to first token and per output token,
# completed and failed requests by kind (429 apart), hangs (every request has a 60 s deadline),
# and the coordinator's and workers' RSS (VmRSS) and open descriptors before, during and after.
# Afterwards the cluster must be idle (no request running or queued) and still give `pipeshard
# run`'s greedy text.
#
#   bench/http_load.sh [--clients 64] [--seconds 120] [--stages 1] [--max-seqs 8] [--queue 32]
#                      [--max-tokens 32] [--backoff-ms 100] [--model M]
# Without --model it makes run/tiny.gguf (the tiny preset). The report goes to
# run/bench/http_load.json. Needs node (no npm package).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
clients=64
seconds=120
stages=1
max_seqs=8
queue=32
max_tokens=32
backoff_ms=100
model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --stages) stages="$2"; shift 2 ;;
    --max-seqs) max_seqs="$2"; shift 2 ;;
    --queue) queue="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --backoff-ms) backoff_ms="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "http_load.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v node > /dev/null || { echo "http_load.sh: needs node" >&2; exit 2; }
work="$here/run/bench/http-load"
mkdir -p "$work"
if [ -z "$model" ]; then
  model="$here/run/tiny.gguf"
  [ -f "$model" ] || "$bin/pipeshard" make-model "$model" --preset tiny > /dev/null
fi

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for _ in $(seq 50); do  # 5 s for a clean exit, then SIGKILL
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
    [ $alive = 1 ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2> /dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin/pipeshard-coordinator" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --model "$model" --stages "$stages" \
  --max-seqs "$max_seqs" --queue "$queue" > "$work/coordinator.log" 2>&1 &
coordinator=$!
pids+=($coordinator)
G=""; H=""
for _ in $(seq 300); do  # 30 s
  G="$(sed -n 's/^listening on //p' "$work/coordinator.log")"
  H="$(sed -n 's/^http listening on //p' "$work/coordinator.log")"
  [ -z "$G" ] || [ -z "$H" ] || break
  kill -0 $coordinator 2> /dev/null || { cat "$work/coordinator.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$H" ] || { echo "http_load.sh: the coordinator printed no addresses in 30 s" >&2; exit 1; }
worker_pids=""
for ((i = 0; i < stages; i++)); do
  "$bin/pipeshard-worker" --coordinator "$G" --listen 127.0.0.1:0 --device cpu --threads 1 --name "w$i" \
    > "$work/worker$i.log" 2>&1 &
  pids+=($!)
  worker_pids+=", \"worker$i\": $!"
done
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$H/health" || true; }
for _ in $(seq 600); do [ "$(health)" = 200 ] && break; sleep 0.1; done  # 60 s
[ "$(health)" = 200 ] || { echo "http_load.sh: the cluster did not serve within 60 s" >&2; exit 1; }

echo "== $clients clients for $seconds s: $stages stage(s), --max-seqs $max_seqs --queue $queue, max_tokens $max_tokens" \
     "(commit $(git -C "$here" rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'))"
timeout $((seconds + 120)) node "$here/bench/http_load.js" "{\"url\": \"http://$H\", \"clients\": $clients,
  \"seconds\": $seconds, \"max_tokens\": $max_tokens, \"temperature\": 0.8, \"deadline_s\": 60,
  \"backoff_ms\": $backoff_ms, \"pids\": {\"coordinator\": $coordinator $worker_pids}, \"out\": \"$work/../http_load.json\"}"

echo "== after the load"
kill -0 $coordinator 2> /dev/null || { echo "the coordinator has exited" >&2; tail -n 20 "$work/coordinator.log" >&2; exit 1; }
echo "health: $(health)"
status="$(timeout 20 "$bin/pipeshard" status --server "$G" --json)"
echo "status: $(grep -oE '"(state|active_requests|queued_requests|tokens_generated)": *"?[a-z0-9]+"?' <<< "$status" | paste -sd' ')"
prompt="Once upon a time"
got="$(curl -s --max-time 60 "http://$H/v1/completions" -d "{\"prompt\":\"$prompt\",\"max_tokens\":16,\"temperature\":0}" |
       LC_ALL=C grep -oE '"text":"([^"\\]|\\.)*"' | head -n 1 || true)"
chunk=512
[ "$stages" = 1 ] || chunk=64  # the coordinator's chunk for a short prompt on 2+ stages
want="$("$bin/pipeshard" run --model "$model" --prompt "$prompt" -n 16 --temp 0 --ubatch $chunk --json |
        LC_ALL=C grep -oE '"text":"([^"\\]|\\.)*"' | head -n 1)"
[ "$got" = "$want" ] && echo "greedy after the load: run's text" || echo "greedy after the load: $got, run: $want"
