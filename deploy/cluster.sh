#!/usr/bin/env bash
# A pipeshard cluster: one coordinator and N workers, on this machine or over ssh (usage below).
usage() {
  cat <<'EOF'
usage: deploy/cluster.sh up [--workers N] [--model M] [--threads T] [--device D] [--ctx C] [--max-seqs S] [--ubatch U]
                            [--hosts FILE] [--ssh-config FILE] [--port P] [--coordinator-host ADDR]
                            [--remote-bin DIR] [--remote-model PATH] [--remote-log-dir DIR]
                            [--tls-dir DIR] [--remote-tls-dir DIR]
                            [--run-dir DIR] [--timeout SECONDS] [--wait] [--dry-run]
                            [--workload-prompt P --workload-gen G --workload-concurrency K]
       deploy/cluster.sh status [--run-dir DIR] [--tls-dir DIR] [pipeshard status flags: --json --watch]
       deploy/cluster.sh down [--run-dir DIR] [--ssh-config FILE]
       deploy/cluster.sh --help

Local (default): the coordinator and N CPU workers on 127.0.0.1, each on a free port (port 0;
the address is read from the process's `listening on HOST:PORT` line). `up` returns once
`pipeshard status` says "serving" (or fails after --timeout seconds, stopping what it started).
Logs, pids and the coordinator's address live in the run folder (default run/cluster).
--wait keeps `up` in the foreground and tears the cluster down on Ctrl-C or when killed.
--device sets the local workers' device: cpu (default), cuda:N, or sim:NAME (an emulated catalog
device: `pipeshard-worker --help`).

Several hosts: --hosts FILE has one line per host, `ADDRESS DEVICE[,DEVICE...]` (e.g.
`10.0.0.2 cpu,cuda:0`; # starts a comment). ADDRESS is the ssh destination and the address the
host's workers listen on (a host name or IPv4 address: letters, digits, '.', '-', '_'); DEVICE
is cpu or cuda:N. Anything else is refused, naming the file and line. One worker per device is
started over ssh (`ssh -o BatchMode=yes ADDRESS sh -s` reading a script: key-based login, the pipeshard
programs and the model at the same absolute paths as here unless --remote-bin / --remote-model
say otherwise; its log is --remote-log-dir/pipeshard-ADDRESS-DEVICE.log on that host, default
/tmp). --ssh-config FILE is given to every ssh call (`ssh -F FILE`), also by `down`, which
remembers it in the run folder. The coordinator listens on --coordinator-host:--port, the address
the workers reach it at (default: this machine's first address from `hostname -I`; port 7070).
Without --tls-dir both sides run with --insecure (open to anyone who reaches the ports).
--dry-run prints the commands instead of running them. `down` stops remote workers over ssh by
their pid (SIGTERM, SIGKILL after 5 s), then checks that none is left, and exits 1 naming any it
could not stop.

Mutual TLS: --tls-dir DIR keeps the cluster's CA, certificates and API keys (made with
`pipeshard certs` where missing: DIR/ca.pem and ca.key, coordinator.pem/.key with the coordinator
host as a SAN, worker-NAME.pem/.key for each worker, NAME being wI locally and ADDRESS-DEVICE on
hosts, e.g. 10.0.0.2-cuda0; DIR/api-keys, one random key, mode 0600). The coordinator runs with
--tls-ca/--tls-cert/--tls-key and --api-key-file DIR/api-keys, every worker with its own
certificate, and nothing with --insecure. Remote workers read ca.pem and their worker-NAME.pem/.key
from --remote-tls-dir (default: DIR at the same path; copy those three files there, never ca.key);
a missing one is named before its worker starts. `status` (and the readiness wait) connect with
--ca DIR/ca.pem and the first key of DIR/api-keys (as $PIPESHARD_API_KEY), DIR remembered in the
run folder; `up` prints how a client connects. An existing coordinator.pem must name the
coordinator host (checked with openssl where installed).

Test hosts on this machine (network namespaces with sshd): deploy/testbed.sh --help.
EOF
}
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "cluster.sh: $*" >&2; exit 2; }

command="${1:-}"
case "$command" in
  -h|--help|help) usage; exit 0 ;;
  up|status|down) shift ;;
  "") usage >&2; exit 2 ;;
  *) die "unknown command '$command' (up, status, down; --help)" ;;
esac

run_dir="$here/run/cluster"
bin="${PIPESHARD_BIN:-$here/build/bin}"
workers=2
model=""
threads=0
local_device=cpu
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
remote_log_dir=/tmp
ssh_config=""
tls_dir=""
remote_tls_dir=""
api_key=""
timeout=120
wait_foreground=0
dry_run=0
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir|--workers|--model|--threads|--device|--ctx|--max-seqs|--ubatch|--workload-*|--hosts|--port|\
    --coordinator-host|--remote-bin|--remote-model|--remote-log-dir|--ssh-config|--timeout|--tls-dir|--remote-tls-dir)
      [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case "$1" in
    --run-dir) run_dir="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --device) local_device="$2"; shift 2 ;;
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
    --remote-log-dir) remote_log_dir="$2"; shift 2 ;;
    --ssh-config) ssh_config="$2"; shift 2 ;;
    --tls-dir) tls_dir="$2"; shift 2 ;;
    --remote-tls-dir) remote_tls_dir="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
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

# Names that go into remote shell commands are checked, not only quoted: a host must be something
# ssh and the worker's --listen both take, and never start with '-' (ssh would read an option).
host_re='^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$'
device_re='^(cpu|cuda:[0-9]+)$'
# A value as it is, or as bash quotes it when it holds control characters (a CR, a tab).
show() { if [[ "$1" =~ [[:cntrl:]] ]]; then printf '%q' "$1"; else printf "'%s'" "$1"; fi; }
# Quotes one word for a POSIX shell on the remote side (printf %q writes bash-only $'..' forms);
# plain words stay as they are, to keep --dry-run readable.
shq() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:,+@%-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
# Absolute paths sent to remote hosts: quoted anyway, but a control character is always a mistake.
check_remote_path() {
  [[ "$2" = /* ]] || die "$1 '$2' must be an absolute path (it is used on the remote hosts)"
  [[ ! "$2" =~ [[:cntrl:]] ]] || die "$1 $(show "$2") holds a control character"
}
[ -z "$remote_tls_dir" ] || [ -n "$tls_dir" ] || die "--remote-tls-dir needs --tls-dir (where the certificates are made)"
[ -z "$coordinator_host" ] || [[ "$coordinator_host" =~ $host_re ]] ||
  die "--coordinator-host $(show "$coordinator_host") is not a host name or IPv4 address (letters, digits, '.', '-', '_')"

# ssh as every remote call makes it: no prompts (a missing key fails instead of hanging), the
# test bed's or the user's --ssh-config, and a deadline on top of ssh's own timeouts.
ssh_opts=(-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3)
ssh_deadline=$((timeout + 30))  # a start script waits up to --timeout for its workers
set_ssh_config() {
  [ -n "$1" ] || return 0
  [ -f "$1" ] || die "--ssh-config '$1' does not exist"
  ssh_config="$(realpath "$1")"
  ssh_opts=(-F "$ssh_config" "${ssh_opts[@]}")
}
# Runs a script under sh on a host. The script goes through ssh's stdin, so the remote command line
# is the constant `sh -s` (whatever the login shell is) and the script is quoted for sh alone.
remote_sh() {
  timeout --kill-after=5 "$ssh_deadline" ssh "${ssh_opts[@]}" -- "$1" sh -s <<< "$2"
}

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
  local left=()
  for pid in "${pids[@]}"; do ours "$pid" && left+=("$pid"); done
  [ ${#left[@]} -gt 0 ] || return 0
  echo "cluster.sh: SIGKILL to local processes that did not stop in 5 s: ${left[*]}" >&2
  kill -KILL "${left[@]}" 2>/dev/null || true
  sleep 0.5
  local still=()
  for pid in "${left[@]}"; do ours "$pid" && still+=("$pid"); done
  [ ${#still[@]} -gt 0 ] || return 0
  echo "cluster.sh: local processes still running after SIGKILL: ${still[*]}" >&2
  return 1
}

# Stops this run's remote workers: SIGTERM, SIGKILL after 5 s, then checks. A pid is touched only
# while its command line is still a pipeshard-worker (not a recycled pid). Returns 1, naming them,
# when workers may be left (still running, or their host unreachable); their lines stay in
# remote-workers so that another `down` can try again.
stop_remote() {
  local list="$run_dir/remote-workers"
  record_started  # workers of an `up` that was interrupted while starting them
  [ -f "$list" ] || return 0
  if [ -z "$ssh_config" ] && [ -s "$run_dir/ssh-config" ]; then
    local saved; saved="$(cat "$run_dir/ssh-config")"
    if [ -f "$saved" ]; then set_ssh_config "$saved"; else echo "cluster.sh: the ssh config of this cluster, $saved, is gone; trying plain ssh" >&2; fi
  fi
  local host pid _rest hosts=() jobs=() failed=0 kept=""
  while read -r host pid _rest; do
    [[ "$host" =~ $host_re && "$pid" =~ ^[0-9]+$ ]] || { echo "cluster.sh: $list: skipping bad line '$host $pid'" >&2; continue; }
    [[ " ${hosts[*]} " = *" $host "* ]] || hosts+=("$host")
  done < "$list"
  for host in "${hosts[@]}"; do
    local pids
    pids="$(awk -v h="$host" '$1 == h && $2 ~ /^[0-9]+$/ {printf "%s ", $2}' "$list")"
    # shellcheck disable=SC2016 # $1, $p, $left are the remote shell's
    local script='
pids="'"$pids"'"
ours() { tr "\000" " " < "/proc/$1/cmdline" 2>/dev/null | grep -q pipeshard-worker; }
alive() { for p in $pids; do if ours "$p"; then printf "%s " "$p"; fi; done; }
wait_gone() { i=0; left=$(alive); while [ -n "$left" ] && [ $i -lt $1 ]; do sleep 0.1; i=$((i + 1)); left=$(alive); done; }
left=$(alive)
[ -z "$left" ] || kill -TERM $left 2>/dev/null
wait_gone 50
if [ -n "$left" ]; then echo "killed $left"; kill -KILL $left 2>/dev/null; wait_gone 20; fi
if [ -n "$left" ]; then echo "left $left"; exit 3; fi
exit 0'
    # Every host at once: each ssh costs a second or more on a busy machine.
    remote_sh "$host" "$script" > "$run_dir/stop-$host.out" 2>&1 &
    jobs+=($!)
  done
  local k=0 out rc
  for host in "${hosts[@]}"; do
    rc=0; wait "${jobs[$k]}" || rc=$?
    k=$((k + 1))
    out="$(cat "$run_dir/stop-$host.out")"; rm -f "$run_dir/stop-$host.out"
    pids="$(awk -v h="$host" '$1 == h {printf "%s ", $2}' "$list")"
    case "$rc" in
      0) [[ "$out" != *killed* ]] || echo "cluster.sh: $host: workers did not stop in 5 s after SIGTERM; SIGKILL sent (${out#killed })" >&2 ;;
      3) echo "cluster.sh: $host: workers still running after SIGKILL: ${out##*left }" >&2; failed=1
         kept+="$(awk -v h="$host" '$1 == h' "$list")"$'\n' ;;
      *) echo "cluster.sh: could not reach $host over ssh (exit $rc): workers ${pids% } may still run there${out:+; ssh said: $out}" >&2
         failed=1; kept+="$(awk -v h="$host" '$1 == h' "$list")"$'\n' ;;
    esac
  done
  if [ $failed = 0 ]; then
    rm -f "$list" "$run_dir/ssh-config"
  else
    printf '%s' "$kept" | sed '/^$/d' > "$list"
  fi
  return $failed
}

down() {
  local rc=0
  stop_remote || rc=1
  stop_local || rc=1
  rm -f "$run_dir/address"
  [ $rc != 0 ] || rm -f "$run_dir/tls-dir"
  return $rc
}

# The first key of DIR/api-keys (its lines: a key, a # comment, or empty).
read_api_key() {
  local key
  [ -r "$tls_dir/api-keys" ] || die "cannot read $tls_dir/api-keys, the cluster's API keys"
  key="$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$tls_dir/api-keys" | grep -v -e '^#' -e '^$' | head -n 1)" || true
  [ -n "$key" ] || die "$tls_dir/api-keys holds no API key (one a line, 16 to 256 printable characters)"
  echo "$key"
}

# `pipeshard SUBCOMMAND ARGS...` as a client of this cluster: with TLS, --ca and the API key, the
# key through the environment so that it never shows in a process list.
client() {
  if [ -n "$tls_dir" ]; then
    PIPESHARD_API_KEY="$api_key" "$bin/pipeshard" "$@" --ca "$tls_dir/ca.pem"
  else
    "$bin/pipeshard" "$@"
  fi
}

serving() {
  local out
  out="$(client status --server "$1" --json --connect-timeout 2 2>/dev/null)" || return 1
  grep -q '"state": *"serving"' <<< "$out"
}

# --tls-dir: makes what the folder lacks (`pipeshard certs`: the CA, the coordinator's certificate
# naming the host clients dial, one certificate per worker name given; an API key file), keeps
# what it has. With --dry-run it prints the commands instead.
prepare_tls() {
  local certs=("$bin/pipeshard" certs) name stem
  tls_make() {
    if [ $dry_run = 1 ]; then echo "$*"; return 0; fi
    "$@" > /dev/null || die "could not make the TLS files in $tls_dir (pipeshard said why, above)"
  }
  # A certificate without its key (or the reverse) is someone's half-done work: not replaced.
  missing_pair() {
    if [ -e "$tls_dir/$1.pem" ] && [ -e "$tls_dir/$1.key" ]; then return 1; fi
    if [ -e "$tls_dir/$1.pem" ] || [ -e "$tls_dir/$1.key" ]; then
      die "$tls_dir holds only one of $1.pem and $1.key: remove it to have both made"
    fi
    return 0
  }
  # shellcheck disable=SC2174 # only the folder holding the keys must be private, not its parents
  [ -d "$tls_dir" ] || [ $dry_run = 1 ] || mkdir -p -m 700 "$tls_dir"
  if [ ! -e "$tls_dir/ca.pem" ]; then
    [ ! -e "$tls_dir/ca.key" ] || die "$tls_dir/ca.key exists without ca.pem: remove it to have a new CA made"
    tls_make "${certs[@]}" init --dir "$tls_dir"
  fi
  if missing_pair coordinator; then
    # Clients verify the host they dial; localhost and 127.0.0.1 are always in.
    tls_make "${certs[@]}" issue --dir "$tls_dir" coordinator ${coordinator_host:+--san "$coordinator_host"}
  elif [ -n "$coordinator_host" ] && command -v openssl > /dev/null; then
    local check=-checkhost
    [[ ! "$coordinator_host" =~ ^[0-9.]+$ ]] || check=-checkip
    openssl x509 -in "$tls_dir/coordinator.pem" -noout "$check" "$coordinator_host" 2>/dev/null | grep -q ' does match' ||
      die "$tls_dir/coordinator.pem does not name $coordinator_host, which clients dial: remove coordinator.pem and coordinator.key there to have them made again, or give another --tls-dir"
  fi
  for name in "$@"; do
    stem="worker-$name"
    if missing_pair "$stem"; then tls_make "${certs[@]}" issue --dir "$tls_dir" worker "$name"; fi
  done
  if [ ! -e "$tls_dir/api-keys" ]; then
    if [ $dry_run = 1 ]; then echo "(a random API key into $tls_dir/api-keys, mode 0600)"; return 0; fi
    # 33 random bytes: 44 base64 characters, no padding; - and _ instead of + and /.
    (umask 077; set -C
     { echo "# API keys of the pipeshard clusters using $tls_dir, one a line (made by deploy/cluster.sh)"
       head -c 33 /dev/urandom | base64 | tr '+/' '-_'; } > "$tls_dir/api-keys") ||
      die "could not write $tls_dir/api-keys"
  elif [ -n "$(find "$tls_dir/api-keys" -perm /077 2>/dev/null)" ]; then
    echo "cluster.sh: warning: $tls_dir/api-keys can be read by other users (chmod 600 it)" >&2
  fi
}

# Moves the `started PID NAME LOG` lines of the start scripts' output (start-HOST.out) into
# remote-workers, the list `down` works from.
record_started() {
  local f host tag pid name log
  for f in "$run_dir"/start-*.out; do
    [ -f "$f" ] || continue
    host="${f##*/start-}"; host="${host%.out}"
    while read -r tag pid name log; do
      if [ "$tag" != started ] || [[ ! "$pid" =~ ^[0-9]+$ ]]; then continue; fi
      echo "$host $pid $name $log" >> "$run_dir/remote-workers"
    done < "$f"
    rm -f "$f"
  done
}

# The part of every host's start script that waits for its workers: `await NAME PID LOG` returns
# once the log has a `listening on` line, or fails showing the log's end if the worker exited or
# the time (--timeout, shared by the host's workers) ran out. A worker that exited stays a zombie
# until this sh reaps it, so `kill -0` cannot tell; /proc/PID/stat can.
# shellcheck disable=SC2016 # for the remote sh
await_script='i=0
running() { s=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -c1); [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; }
await() {
  while ! grep -q "listening on" "$3" 2>/dev/null; do
    if ! running "$2"; then
      echo "worker $1 (pid $2) exited; the end of its log, $3:"; tail -n 20 "$3"; return 1
    fi
    if [ $i -ge @LIMIT@ ]; then
      echo "worker $1 (pid $2) logged no \"listening on\" line in @TIMEOUT@ s; the end of its log, $3:"; tail -n 20 "$3"; return 1
    fi
    sleep 0.2; i=$((i + 1))
  done
}
'

# Runs each host's start script (one ssh per host, all hosts at once), records the workers' pids
# for `down`, and fails showing what a host said if any worker did not come up.
start_remote_workers() {
  local host jobs=() script
  local prelude="${await_script//@LIMIT@/$((timeout * 5))}"
  prelude="${prelude//@TIMEOUT@/$timeout}"
  for host in "${remote_hosts[@]}"; do
    script="$prelude${start_script[$host]}${wait_script[$host]}echo ready"
    if [ $dry_run = 1 ]; then
      printf '%q ' ssh "${ssh_opts[@]}" -- "$host" sh -s; printf "<<'EOF'\n%s\nEOF\n" "$script"
      continue
    fi
    remote_sh "$host" "$script" > "$run_dir/start-$host.out" 2>&1 &
    jobs+=($!)
  done
  [ $dry_run = 0 ] || return 0
  local k=0 rc out failed=0
  for host in "${remote_hosts[@]}"; do
    rc=0; wait "${jobs[$k]}" || rc=$?
    k=$((k + 1))
    out="$(grep -v '^started ' "$run_dir/start-$host.out" || true)"
    [ $rc != 0 ] || continue
    failed=1
    case $rc in
      3) echo "cluster.sh: on $host: $out" >&2 ;;
      *) echo "cluster.sh: starting workers on $host over ssh failed (exit $rc)${out:+: $out}" >&2 ;;
    esac
  done
  record_started
  [ $failed = 0 ] || exit 1
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
    local line lineno=0 fields address device device_list where
    while IFS= read -r line || [ -n "$line" ]; do
      lineno=$((lineno + 1))
      where="$hosts_file:$lineno"
      line="${line%%#*}"
      read -r -a fields <<< "$line" || true
      [ ${#fields[@]} -gt 0 ] || continue
      [ ${#fields[@]} -ge 2 ] || die "$where: host $(show "${fields[0]}") lists no device (want: ADDRESS DEVICE[,DEVICE...], e.g. 10.0.0.2 cpu,cuda:0)"
      [ ${#fields[@]} -eq 2 ] || die "$where: $(show "$line") has ${#fields[@]} fields, want ADDRESS DEVICE[,DEVICE...] (no spaces inside either)"
      address="${fields[0]}"
      [[ "$address" =~ $host_re ]] ||
        die "$where: host $(show "$address") is not a host name or IPv4 address (letters, digits, '.', '-', '_'; not starting with '-')"
      IFS=',' read -r -a device_list <<< "${fields[1]}"
      [ ${#device_list[@]} -gt 0 ] || die "$where: host $(show "$address") lists no device"
      for device in "${device_list[@]}"; do
        [[ "$device" =~ $device_re ]] || die "$where: device $(show "$device") of $address is not cpu or cuda:N"
        [ ${#plan[@]} = 0 ] || ! printf '%s\n' "${plan[@]}" | grep -qxF -- "$address $device" ||
          die "$where: $address $device is listed twice"
        plan+=("$address $device")
      done
    done < "$hosts_file"
    [ ${#plan[@]} -gt 0 ] || die "$hosts_file lists no hosts"
    check_remote_path --remote-log-dir "$remote_log_dir"
  else
    [ "$workers" -ge 1 ] || die "--workers must be at least 1"
    [[ "$local_device" =~ ^(cpu|cuda:[0-9]+|sim:[A-Za-z0-9._-]+)$ ]] || die "--device '$local_device': expected cpu, cuda:N or sim:NAME"
    for _ in $(seq "$workers"); do plan+=("local $local_device"); done
    if [ "$threads" = 0 ]; then threads=$(( $(nproc) / workers )); [ "$threads" -ge 1 ] || threads=1; fi
  fi
  local stages=${#plan[@]}
  [ -z "$hosts_file" ] || set_ssh_config "$ssh_config"
  # Each worker's --name (and, with TLS, its certificate's): wI here, ADDRESS-DEVICE on a host.
  local names=() entry host device
  for entry in "${plan[@]}"; do
    read -r host device <<< "$entry"
    if [ "$host" = local ]; then names+=("w${#names[@]}"); else names+=("$host-${device/:/}"); fi
  done

  local listen="127.0.0.1:0"
  if [ -n "$hosts_file" ]; then
    [ -n "$coordinator_host" ] || coordinator_host="$(hostname -I 2>/dev/null | awk '{print $1}')"
    [ -n "$coordinator_host" ] || die "cannot tell this machine's address: give --coordinator-host"
    # Not 0.0.0.0: the coordinator tells the last stage to return frames to its listen address,
    # and advertises a wildcard as 127.0.0.1, which on the last stage's host is that host.
    listen="$coordinator_host:$port"
  fi
  if [ -n "$tls_dir" ]; then
    tls_dir="$(realpath -m "$tls_dir")"
    [[ ! "$tls_dir" =~ [[:cntrl:]] ]] || die "--tls-dir $(show "$tls_dir") holds a control character"
    prepare_tls "${names[@]}"
    [ $dry_run = 1 ] || api_key="$(read_api_key)"
  fi
  # --stage-order: stage i runs on the i-th worker named here (w0, w1, ... or the hosts file's
  # order), whatever order they register in.
  local coordinator=("$bin/pipeshard-coordinator" --listen "$listen" --model "$model" --stages "$stages"
                     --stage-order "$(IFS=,; echo "${names[*]}")")
  if [ -n "$tls_dir" ]; then
    coordinator+=(--tls-ca "$tls_dir/ca.pem" --tls-cert "$tls_dir/coordinator.pem" --tls-key "$tls_dir/coordinator.key"
                  --api-key-file "$tls_dir/api-keys")
  elif [ -n "$hosts_file" ]; then
    coordinator+=(--insecure)  # reachable from other hosts, no TLS: it says what is open
  fi
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
    down || die "workers of an earlier cluster in $run_dir could not be stopped (above); stop them, then run up again"
    # For `status`, which connects as a client of this cluster.
    [ -z "$tls_dir" ] || echo "$tls_dir" > "$run_dir/tls-dir"
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
    echo "$address" > "$run_dir/address"
  fi

  if [ -n "$hosts_file" ]; then
    check_remote_path --remote-bin "${remote_bin:-$bin}"
    check_remote_path --remote-model "${remote_model:-$model}"
    [ -z "$tls_dir" ] || check_remote_path --remote-tls-dir "${remote_tls_dir:-$tls_dir}"
    # For `down`, which may be run without --ssh-config.
    [ $dry_run = 1 ] || [ -z "$ssh_config" ] || echo "$ssh_config" > "$run_dir/ssh-config"
  fi
  local i=0 name worker remote_hosts=() setsid=()
  ! command -v setsid > /dev/null || setsid=(setsid)
  local -A start_script=() wait_script=()
  for entry in "${plan[@]}"; do
    read -r host device <<< "$entry"
    if [ "$host" = local ]; then
      name="${names[$i]}"
      worker=("$bin/pipeshard-worker" --coordinator "$address" --listen 127.0.0.1:0 --device "$device"
              --threads "$threads" --name "$name")
      [ -z "$tls_dir" ] ||
        worker+=(--tls-ca "$tls_dir/ca.pem" --tls-cert "$tls_dir/worker-$name.pem" --tls-key "$tls_dir/worker-$name.key")
      if [ $dry_run = 1 ]; then
        echo "${worker[*]} > $run_dir/worker-$i.log 2>&1 &"
      else
        # A session of its own, as a worker started over ssh has: Linux's autogroup scheduling gives
        # each session one share of the CPUs, so workers sharing this script's session got less CPU
        # on a busy machine than the same workers on other hosts (bench/link_bench.sh saw it). Not
        # a process group leader here, so setsid runs the worker itself and $! is its pid.
        "${setsid[@]}" nohup "${worker[@]}" > "$run_dir/worker-$i.log" 2>&1 < /dev/null &
        echo $! > "$run_dir/worker-$i.pid"
      fi
    else
      name="${names[$i]}"
      local rbin="${remote_bin:-$bin}" rmodel="${remote_model:-$model}" rtls="${remote_tls_dir:-$tls_dir}" log word file
      log="${remote_log_dir%/}/pipeshard-$name.log"
      worker=("$rbin/pipeshard-worker" --coordinator "$address" --listen "$host:0"
              --device "$device" --name "$name" --model "$rmodel")
      if [ -n "$tls_dir" ]; then
        worker+=(--tls-ca "$rtls/ca.pem" --tls-cert "$rtls/worker-$name.pem" --tls-key "$rtls/worker-$name.key")
      else
        worker+=(--insecure)  # reachable from other hosts without TLS: it says what is open
      fi
      [ "$threads" = 0 ] || worker+=(--threads "$threads")
      if [ -z "${start_script[$host]+set}" ]; then
        remote_hosts+=("$host")
        start_script[$host]="mkdir -p $(shq "${remote_log_dir%/}") || exit 1"$'\n'
        wait_script[$host]=""
      fi
      # A missing certificate is named here, rather than by the worker's log after it exited.
      if [ -n "$tls_dir" ]; then
        for file in "$rtls/ca.pem" "$rtls/worker-$name.pem" "$rtls/worker-$name.key"; do
          start_script[$host]+="[ -r $(shq "$file") ] || { echo $(shq "cannot read $file (copy it there from $tls_dir on $(hostname))"); exit 3; }"$'\n'
        done
      fi
      # Every word quoted for sh. The log is emptied first, so that an old `listening on` line
      # from an earlier run cannot pass for this worker's, in its own statement: `&` must
      # background nohup alone, for $! to be the worker's pid.
      start_script[$host]+=": > $(shq "$log") || exit 1"$'\n'"nohup"
      for word in "${worker[@]}"; do start_script[$host]+=" $(shq "$word")"; done
      start_script[$host]+=" >> $(shq "$log") 2>&1 < /dev/null &"$'\n'
      start_script[$host]+="p$i=\$!; printf 'started %s %s %s\\n' \"\$p$i\" $(shq "$name") $(shq "$log")"$'\n'
      wait_script[$host]+="await $(shq "$name") \"\$p$i\" $(shq "$log") || exit 3"$'\n'
    fi
    i=$((i + 1))
  done
  [ ${#remote_hosts[@]} = 0 ] || start_remote_workers
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
      client status --server "$address" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "cluster serving at $address: $stages workers, model $model; logs in $run_dir"
  if [ -n "$tls_dir" ]; then
    echo "mutual TLS; clients need --ca $tls_dir/ca.pem and an API key from $tls_dir/api-keys (--api-key or \$PIPESHARD_API_KEY), e.g."
    # shellcheck disable=SC2016 # the $(...) is for the reader's shell
    printf '  PIPESHARD_API_KEY="$(grep -v "^#" %q | head -n 1)" %q status --server %q --ca %q\n' \
      "$tls_dir/api-keys" "$bin/pipeshard" "$address" "$tls_dir/ca.pem"
  fi
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
  down)
    set_ssh_config "$ssh_config"
    down || { echo "cluster.sh: the cluster in $run_dir is NOT fully stopped (above)" >&2; exit 1; }
    echo "cluster in $run_dir stopped" ;;
  status)
    [ -f "$run_dir/address" ] || die "no cluster in $run_dir (deploy/cluster.sh up)"
    [ -n "$tls_dir" ] || [ ! -s "$run_dir/tls-dir" ] || tls_dir="$(cat "$run_dir/tls-dir")"
    if [ -n "$tls_dir" ]; then
      api_key="$(read_api_key)"
      export PIPESHARD_API_KEY="$api_key"
      passthrough+=(--ca "$tls_dir/ca.pem")
    fi
    exec "$bin/pipeshard" status --server "$(cat "$run_dir/address")" "${passthrough[@]}" ;;
esac
