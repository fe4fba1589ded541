#!/usr/bin/env bash
# The host CPU one frame costs as it crosses between two emulated stages: the CPU seconds all
# of a cluster's processes spend (from /proc/PID/stat) on the same work at S=2 and at S=8
# `--device sim:DEVICE` stages, divided by the frame hops the 6 extra stages add. Emulated
# stages compute nothing, so what grows with S is the frames' software: gRPC receive and send,
# the stage's copies, the kernel's loopback. Two frame sizes give a fixed and a per-byte part:
# prompt chunks of 64 rows (64 x n_embd x 4 bytes) and decode rows (1 row).
#
#   bench/frame_cpu.sh [--model M] [--rounds R] [--device P40]
#
# Prints the per-hop CPU of each size and the fit `frame_cpu_s` + bytes x `frame_cpu_s_per_byte`:
# whether frames make an emulated cluster CPU-bound on this host (docs/benchmarks.md, "Emulated
# clusters"). Needs jq.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
model="$here/run/bench-8b-q8_0.gguf"
rounds=5
device=P40
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "frame_cpu.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v jq > /dev/null || { echo "frame_cpu.sh: needs jq (apt install jq)" >&2; exit 1; }
[ -f "$model" ] || { echo "frame_cpu.sh: $model not found (make-model --preset llama3-8b --type q8_0)" >&2; exit 1; }
work="$here/run/bench/frame-cpu"
trap 'bash "$here/deploy/cluster.sh" down --run-dir "$work" > /dev/null 2>&1 || true' EXIT
n_embd="$("$bin/pipeshard" gguf-info "$model" --json | jq '[.metadata | to_entries[] | select(.key | endswith(".embedding_length")) | .value.value][0]')"
prompt="$(for i in $(seq 0 509); do printf 'word%d ' $((i % 97)); done)"

ticks() {  # CPU ticks (utime + stime) of the cluster's processes so far
  local t=0 pid
  for pid in $(cat "$work"/*.pid); do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$t"
}
now() { date +%s.%N; }
# measure S: "prefill_ticks decode_ticks prompt_tokens prefill_s decode_s idle_ticks_per_process_s" over
# the rounds. Idle processes use some CPU too (heartbeats, gRPC timers); measured for 5 s first,
# it is taken off below, pro rata to the extra processes and the time.
measure() {
  bash "$here/deploy/cluster.sh" up --workers "$1" --device "sim:$device" --model "$model" --ctx 1152 --ubatch 64 \
    --run-dir "$work" --timeout 120 > /dev/null
  local addr; addr="$(cat "$work/address")"
  local gen=("$bin/pipeshard" generate --server "$addr" --temp 0 --ignore-eos --json)
  "${gen[@]}" --prompt "$prompt" -n 1 > /dev/null  # warm: streams open
  local i0 i1 t0 t1 t2 w0 w1 w2 tokens
  i0="$(ticks)"; sleep 5; i1="$(ticks)"
  t0="$(ticks)"; w0="$(now)"
  for _ in $(seq "$rounds"); do tokens="$("${gen[@]}" --prompt "$prompt" -n 1 | jq .prompt_tokens)"; done
  t1="$(ticks)"; w1="$(now)"
  for _ in $(seq "$rounds"); do "${gen[@]}" --prompt "Hi" -n 65 > /dev/null; done
  t2="$(ticks)"; w2="$(now)"
  bash "$here/deploy/cluster.sh" down --run-dir "$work" > /dev/null
  echo "$((t1 - t0)) $((t2 - t1)) $tokens $(awk -v a="$w0" -v b="$w1" -v c="$w2" 'BEGIN { print b - a, c - b }') \
$(awk -v d="$((i1 - i0))" -v n="$(($1 + 1))" 'BEGIN { print d / n / 5 }')"
}
read -r p2 d2 tokens ps2 ds2 idle2 <<< "$(measure 2)"
read -r p8 d8 _ ps8 ds8 idle8 <<< "$(measure 8)"
hz="$(getconf CLK_TCK)"
awk -v p2="$p2" -v p8="$p8" -v d2="$d2" -v d8="$d8" -v tokens="$tokens" -v r="$rounds" -v hz="$hz" -v e="$n_embd" \
    -v ps2="$ps2" -v ps8="$ps8" -v ds2="$ds2" -v ds8="$ds8" -v idle="$(awk -v a="$idle2" -v b="$idle8" 'BEGIN { print (a + b) / 2 }')" 'BEGIN {
  # idle ticks of 3 (S=2) and 9 (S=8) processes over the time of each phase
  p2 -= idle * 3 * ps2; p8 -= idle * 9 * ps8; d2 -= idle * 3 * ds2; d8 -= idle * 9 * ds8
  chunks = int((tokens + 63) / 64)
  prefill_hops = 6 * chunks * r; decode_hops = 6 * 64 * r   # 64 decode steps after the first token
  big = 64 * e * 4; small = e * 4
  cp = (p8 - p2) / hz / prefill_hops; cd = (d8 - d2) / hz / decode_hops
  per_byte = (cp - cd) / (big - small); fixed = cd - per_byte * small
  printf "idle: %.2f ticks per process-second, taken off\n", idle
  printf "prompt chunk frames (%d bytes): %.3f ms CPU per hop (%.0f ticks at S=2, %.0f at S=8, %d hops)\n", big, 1e3 * cp, p2, p8, prefill_hops
  printf "decode frames (%d bytes): %.3f ms CPU per hop (%.0f ticks at S=2, %.0f at S=8, %d hops)\n", small, 1e3 * cd, d2, d8, decode_hops
  printf "frame_cpu_s %.3g frame_cpu_s_per_byte %.3g\n", fixed, per_byte
}'
