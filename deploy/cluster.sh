#!/usr/bin/env bash
# A pipeshard cluster: one coordinator and N workers, on this machine or over ssh.
#
#   deploy/cluster.sh up [--workers N] [--model M] [--threads T] [--ctx C] [--max-seqs S] [--ubatch U]
#                        [--hosts FILE] [--port P] [--coordinator-host ADDR] [--run-dir DIR]
#                        [--timeout SECONDS] [--wait] [--dry-run]
#                        [--workload-prompt P --workload-gen G --workload-concurrency K]
#   deploy/cluster.sh status [--run-dir DIR] [pipeshard status flags: --json --watch]
#   deploy/cluster.sh down [--run-dir DIR]
#
# Local (default): the coordinator and N CPU workers on 127.0.0.1, each on a free port (port 0;
# the address is read from the process's `listening on HOST:PORT` line). `up` returns once
# `pipeshard status` says "serving" (or fails after --timeout seconds, stopping what it started).
# Logs, pids and the coordinator's address live in the run folder (default run/cluster).
# --wait keeps `up` in the foreground and tears the cluster down on Ctrl-C or when killed.
#
# Several hosts: --hosts FILE has one line per host, `ADDRESS DEVICE[,DEVICE...]` (e.g.
# `10.0.0.2 cpu,cuda:0`; # starts a comment). One worker per device is started over ssh
# (`ssh -n -o BatchMode=yes ADDRESS ...`: key-based login, the pipeshard programs and the model at
# the same absolute paths as here unless --remote-bin / --remote-model say otherwise). The
# coordinator listens on 0.0.0.0:--port (default 7070) and workers reach it at
# --coordinator-host (default: this machine's first address from `hostname -I`). --dry-run prints
# the commands instead of running them. `down` stops remote workers over ssh by their pid.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "cluster.sh: $*" >&2; exit 2; }

command="${1:-}"
[ -n "$command" ] || die "usage: cluster.sh up|status|down [options] (see the comment at the top)"
shift

run_dir="$here/run/cluster"
bin="${PIPESHARD_BIN:-$here/build/bin}"
workers=2
model=""
threads=0
ctx=0
max_seqs=0
ubatch=0
workload_prompt=0
workload_gen=-1
workload_concurrency=0
hosts_file=""
port=7070
coordinator_host=""
remote_bin=""
remote_model=""
timeout=120
wait_foreground=0
dry_run=0
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir) run_dir="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --max-seqs) max_seqs="$2"; shift 2 ;;
    --ubatch) ubatch="$2"; shift 2 ;;
    --workload-prompt) workload_prompt="$2"; shift 2 ;;
    --workload-gen) workload_gen="$2"; shift 2 ;;
    --workload-concurrency) workload_concurrency="$2"; shift 2 ;;
    --hosts) hosts_file="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --coordinator-host) coordinator_host="$2"; shift 2 ;;
    --remote-bin) remote_bin="$2"; shift 2 ;;
    --remote-model) remote_model="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --wait) wait_foreground=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    *) [ "$command" = status ] || die "unknown option '$1'"; passthrough+=("$1"); shift ;;
  esac
done
[ "$workload_gen" = -1 ] || [[ "$workload_gen" =~ ^[0-9]+$ ]] || die "--workload-gen '$workload_gen' is not a number"
for n in workers threads ctx max_seqs ubatch workload_prompt workload_concurrency port timeout; do
  [[ "${!n}" =~ ^[0-9]+$ ]] || die "--${n//_/-} '${!n}' is not a number"
done

# Is pid alive and one of our programs (not a recycled pid)?
ours() { [ -n "$1" ] && { tr '\0' ' ' < "/proc/$1/cmdline"; } 2>/dev/null | grep -q 'pipeshard-'; }

# Waits until the log has a `listening on HOST:PORT` line and prints the address.
await_listening() {
  local log="$1" pid="$2" deadline=$((SECONDS + timeout)) address
  while [ $SECONDS -lt $deadline ]; do
    address="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$log" 2>/dev/null | head -n 1)"
    if [ -n "$address" ]; then echo "$address"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "cluster.sh: $(basename "$log" .log) exited; its log:" >&2; tail -n 20 "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "cluster.sh: no 'listening on' line in $log after ${timeout}s" >&2
  return 1
}

stop_local() {
  local pids=() f pid
  for f in "$run_dir"/worker-*.pid "$run_dir"/coordinator.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    if ours "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    rm -f "$f"
  done
  # Up to 5 s to exit cleanly, then SIGKILL.
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do ours "$pid" && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do ours "$pid" && kill -KILL "$pid" 2>/dev/null || true; done
}

stop_remote() {
  [ -f "$run_dir/remote-workers" ] || return 0
  local host pid
  while read -r host pid; do
    ssh -n -o BatchMode=yes -o ConnectTimeout=10 "$host" "kill $pid" || echo "cluster.sh: could not stop worker $pid on $host" >&2
  done < "$run_dir/remote-workers"
  rm -f "$run_dir/remote-workers"
}

down() {
  stop_remote
  stop_local
  rm -f "$run_dir/address"
}

serving() {
  "$bin/pipeshard" status --server "$1" --json --connect-timeout 2 2>/dev/null | grep -q '"state": *"serving"'
}

up() {
  [ -x "$bin/pipeshard-coordinator" ] && [ -x "$bin/pipeshard-worker" ] && [ -x "$bin/pipeshard" ] ||
    [ $dry_run = 1 ] || die "programs not found in $bin (build first: bash deploy/build.sh, or set PIPESHARD_BIN)"
  if [ -z "$model" ]; then
    model="$here/run/tiny.gguf"
    if [ ! -f "$model" ] && [ $dry_run = 0 ]; then
      mkdir -p "$(dirname "$model")"
      "$bin/pipeshard" make-model "$model" --preset tiny >/dev/null
    fi
  fi
  [ -f "$model" ] || [ $dry_run = 1 ] || die "--model '$model' does not exist"
  model="$(realpath -m "$model")"

  # The workers to start: "HOST DEVICE" lines; HOST "local" runs here.
  local plan=()
  if [ -n "$hosts_file" ]; then
    [ -f "$hosts_file" ] || die "--hosts '$hosts_file' does not exist"
    local line address devices device
    while IFS= read -r line || [ -n "$line" ]; do
      line="${line%%#*}"
      read -r address devices _ <<< "$line" || true
      [ -n "${address:-}" ] || continue
      [ -n "${devices:-}" ] || die "$hosts_file: host '$address' lists no device (want: ADDRESS cpu,cuda:0)"
      IFS=',' read -r -a device_list <<< "$devices"
      for device in "${device_list[@]}"; do
        [[ "$device" =~ ^(cpu|cuda:[0-9]+)$ ]] || die "$hosts_file: device '$device' of $address is not cpu or cuda:N"
        plan+=("$address $device")
      done
    done < "$hosts_file"
    [ ${#plan[@]} -gt 0 ] || die "$hosts_file lists no hosts"
  else
    [ "$workers" -ge 1 ] || die "--workers must be at least 1"
    for _ in $(seq "$workers"); do plan+=("local cpu"); done
    if [ "$threads" = 0 ]; then threads=$(( $(nproc) / workers )); [ "$threads" -ge 1 ] || threads=1; fi
  fi
  local stages=${#plan[@]}

  local listen="127.0.0.1:0"
  if [ -n "$hosts_file" ]; then
    listen="0.0.0.0:$port"
    [ -n "$coordinator_host" ] || coordinator_host="$(hostname -I 2>/dev/null | awk '{print $1}')"
    [ -n "$coordinator_host" ] || die "cannot tell this machine's address: give --coordinator-host"
  fi
  local coordinator=("$bin/pipeshard-coordinator" --listen "$listen" --model "$model" --stages "$stages")
  [ -z "$hosts_file" ] || coordinator+=(--insecure)  # 0.0.0.0 without TLS: it says what is open
  [ "$ctx" = 0 ] || coordinator+=(--ctx "$ctx")
  [ "$max_seqs" = 0 ] || coordinator+=(--max-seqs "$max_seqs")
  [ "$ubatch" = 0 ] || coordinator+=(--ubatch "$ubatch")
  [ "$workload_prompt" = 0 ] || coordinator+=(--workload-prompt "$workload_prompt")
  [ "$workload_gen" = -1 ] || coordinator+=(--workload-gen "$workload_gen")
  [ "$workload_concurrency" = 0 ] || coordinator+=(--workload-concurrency "$workload_concurrency")

  if [ $dry_run = 1 ]; then
    echo "${coordinator[*]} > $run_dir/coordinator.log 2>&1 &"
  else
    mkdir -p "$run_dir"
    if [ -f "$run_dir/coordinator.pid" ] && ours "$(cat "$run_dir/coordinator.pid")"; then
      die "a cluster is already up in $run_dir (deploy/cluster.sh down --run-dir $run_dir)"
    fi
    down  # leftovers of a cluster that died
    # From here on, a failure or Ctrl-C stops whatever was started.
    trap 'down; exit 130' INT TERM
    trap 'rc=$?; [ $rc = 0 ] || down' EXIT
    nohup "${coordinator[@]}" > "$run_dir/coordinator.log" 2>&1 < /dev/null &
    echo $! > "$run_dir/coordinator.pid"
  fi

  local address
  if [ $dry_run = 1 ]; then
    # Local workers learn the coordinator's port from its `listening on` line.
    if [ -n "$hosts_file" ]; then address="$coordinator_host:$port"; else address="COORDINATOR_ADDRESS"; fi
  else
    address="$(await_listening "$run_dir/coordinator.log" "$(cat "$run_dir/coordinator.pid")")"
    # Listening on every interface: workers use the address they can reach.
    [ -z "$hosts_file" ] || address="$coordinator_host:${address##*:}"
    echo "$address" > "$run_dir/address"
  fi

  local i=0 entry host device name worker
  for entry in "${plan[@]}"; do
    read -r host device <<< "$entry"
    if [ "$host" = local ]; then
      name="w$i"
      worker=("$bin/pipeshard-worker" --coordinator "$address" --listen 127.0.0.1:0 --device "$device"
              --threads "$threads" --name "$name")
      if [ $dry_run = 1 ]; then
        echo "${worker[*]} > $run_dir/worker-$i.log 2>&1 &"
      else
        nohup "${worker[@]}" > "$run_dir/worker-$i.log" 2>&1 < /dev/null &
        echo $! > "$run_dir/worker-$i.pid"
      fi
    else
      name="$host-${device/:/}"
      local rbin="${remote_bin:-$bin}" rmodel="${remote_model:-$model}"
      # No TLS yet: a worker reachable from other hosts is open to them (docs: README, "not done").
      local remote="nohup $(printf '%q' "$rbin/pipeshard-worker") --coordinator $address --listen $host:0 --insecure"
      remote+=" --device $device --name $name --model $(printf '%q' "$rmodel")"
      [ "$threads" = 0 ] || remote+=" --threads $threads"
      remote+=" > /tmp/pipeshard-$name.log 2>&1 < /dev/null & echo \$!"
      if [ $dry_run = 1 ]; then
        echo "ssh -n -o BatchMode=yes $host '${remote//\'/\'\\\'\'}'"
      else
        local pid
        pid="$(ssh -n -o BatchMode=yes -o ConnectTimeout=10 "$host" "$remote")" ||
          { echo "cluster.sh: ssh $host failed" >&2; exit 1; }
        echo "$host $pid" >> "$run_dir/remote-workers"
      fi
    fi
    i=$((i + 1))
  done
  [ $dry_run = 0 ] || return 0

  for ((i = 0; i < stages; i++)); do
    [ -f "$run_dir/worker-$i.pid" ] || continue
    await_listening "$run_dir/worker-$i.log" "$(cat "$run_dir/worker-$i.pid")" > /dev/null
  done
  local deadline=$((SECONDS + timeout))
  until serving "$address"; do
    ours "$(cat "$run_dir/coordinator.pid")" ||
      { echo "cluster.sh: the coordinator exited; its log:" >&2; tail -n 20 "$run_dir/coordinator.log" >&2; exit 1; }
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster.sh: the cluster is not serving after ${timeout}s; status:" >&2
      "$bin/pipeshard" status --server "$address" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "cluster serving at $address: $stages workers, model $model; logs in $run_dir"
  if [ $wait_foreground = 1 ]; then
    echo "Ctrl-C stops it"
    trap 'down; exit 0' INT TERM
    while ours "$(cat "$run_dir/coordinator.pid" 2>/dev/null)"; do sleep 1; done
    echo "cluster.sh: the coordinator exited; stopping the workers" >&2
    down
    exit 1
  fi
  trap - INT TERM EXIT
}

case "$command" in
  up) up ;;
  down) down; echo "cluster in $run_dir stopped" ;;
  status)
    [ -f "$run_dir/address" ] || die "no cluster in $run_dir (deploy/cluster.sh up)"
    exec "$bin/pipeshard" status --server "$(cat "$run_dir/address")" "${passthrough[@]}" ;;
  *) die "unknown command '$command' (up, status, down)" ;;
esac
