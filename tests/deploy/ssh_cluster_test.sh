#!/usr/bin/env bash
# deploy/cluster.sh over real ssh: three test-bed hosts (deploy/testbed.sh: network namespaces,
# each with its own sshd), the coordinator in the test bed's switch namespace, one worker per host
# started over ssh, all with mutual TLS and an API key (cluster.sh --tls-dir). Greedy generation
# through the cluster must give `pipeshard run`'s tokens; a client without the CA cannot connect
# (exit 1), one with the CA but no key is refused (exit 2); then status, down, and nothing may be
# left. The model's and the TLS folder's paths hold a space, quotes, `$(...)` and backticks, so
# the remote commands' quoting is tested for real. Exits 77 (skipped) without root, network
# namespaces or sshd. Every wait has a deadline; a trap removes everything on any exit.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
export PIPESHARD_BIN="$bin"
start=$SECONDS

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*" >&2; exit 1; }
step() { echo "== $* ($((SECONDS - start)) s)"; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces for the test-bed hosts)"
command -v ip > /dev/null || skip "ip (iproute2) is not installed"
[ -x "$(command -v sshd || echo /usr/sbin/sshd)" ] || skip "sshd is not installed (openssh-server; deploy/install-deps.sh)"
{ command -v ssh && command -v ssh-keygen; } > /dev/null || skip "ssh / ssh-keygen are not installed (openssh-client)"
for program in pipeshard pipeshard-coordinator pipeshard-worker; do
  [ -x "$bin/$program" ] || fail "$bin/$program not found (build first)"
done

# Can this machine make namespaces, veths and a bridge? (Not in a container without CAP_SYS_ADMIN.)
probe="psprobe$$"
if ! { timeout 10 ip netns add "$probe" &&
       timeout 10 ip -n "$probe" link add name pa type veth peer name pb &&
       timeout 10 ip -n "$probe" link add name pbr type bridge; } > /dev/null 2>&1; then
  timeout 10 ip netns del "$probe" 2> /dev/null || true
  skip "cannot make network namespaces, veth pairs or bridges here"
fi
shaping=(--rate 1gbit)  # tbf on every link; dropped where the kernel lacks it
timeout 10 ip netns exec "$probe" tc qdisc add dev pa root tbf rate 1gbit burst 131072 latency 50ms > /dev/null 2>&1 ||
  { echo "note: no tc tbf here; the links stay unshaped"; shaping=(); }
timeout 10 ip netns del "$probe"

# A run killed without its trap (SIGKILL, e.g. a CTest timeout) leaves its test bed: names carry
# the test's pid, so a bed whose test no longer runs is removed here.
for stale in $(ip netns list | awk '{print $1}' | grep -E '^psT[0-9]+$' || true); do
  pid="${stale#psT}"
  command="$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" || true)"
  [[ "$command" != *ssh_cluster_test* ]] || continue
  echo "removing test bed $stale, left by an earlier run"
  dirs=(/tmp/pipeshard-ssh-test."$pid".*)
  dir_option=()
  [ ! -d "${dirs[0]}/testbed" ] || dir_option=(--dir "${dirs[0]}/testbed")
  timeout 60 bash "$here/deploy/testbed.sh" down --name "$stale" "${dir_option[@]}" || true
  rm -rf /tmp/pipeshard-ssh-test."$pid".*
done

name="psT$$"
tmp="$(mktemp -d "/tmp/pipeshard-ssh-test.$$.XXXXXX")"
bed="$tmp/testbed"
run_dir="$tmp/cluster"
model_dir="$tmp/model dir 'q' \"d\" \$(touch $tmp/pwned) \`touch $tmp/pwned\`; x"
model="$model_dir/tiny.gguf"
tls="$tmp/tls 'q' \$(touch $tmp/pwned) \`touch $tmp/pwned\`"

# Output is captured before grep sees it: with pipefail, `producer | grep -q` can fail when grep
# stops reading early.
namespaces() { ip netns list | awk '{print $1}' | grep -E "^$name(-h[0-9]+)?\$" || true; }
commands_in() {  # the command lines of the processes in namespace $1
  local pid pids
  pids="$(ip netns pids "$1" 2>/dev/null || true)"
  for pid in $pids; do tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" || true; echo; done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ $rc != 0 ] && [ -d "$run_dir" ]; then
    echo "--- coordinator log" >&2; tail -n 20 "$run_dir/coordinator.log" >&2 2>/dev/null || true
    for log in "$tmp"/remote-logs/*.log; do [ -f "$log" ] && { echo "--- $log" >&2; tail -n 10 "$log" >&2; }; done
  fi
  if grep -qx -- "$name" <<< "$(namespaces)"; then
    timeout 60 ip netns exec "$name" bash "$here/deploy/cluster.sh" down --run-dir "$run_dir" > /dev/null 2>&1 || true
  fi
  timeout 60 bash "$here/deploy/testbed.sh" down --name "$name" --dir "$bed" > /dev/null 2>&1 || rc=1
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$model_dir"
"$bin/pipeshard" make-model "$model" --preset tiny > /dev/null

step "host files with shell syntax are refused, never run"
for bad in "10.0.0.1 cpu;touch $tmp/pwned" "\$(touch $tmp/pwned) cpu" "\`touch $tmp/pwned\` cpu" \
           "a'b cpu" "-oProxyCommand=touch_$tmp/pwned cpu" "two words cpu"; do
  printf '# a comment\n%s\n' "$bad" > "$tmp/bad-hosts"
  rc=0
  out="$(bash "$here/deploy/cluster.sh" up --hosts "$tmp/bad-hosts" --dry-run --coordinator-host 10.0.0.1 \
         --model "$model" --run-dir "$run_dir" 2>&1)" || rc=$?
  [[ $rc = 2 && "$out" = *"$tmp/bad-hosts:2:"* ]] || fail "host line '$bad': want exit 2 naming $tmp/bad-hosts:2, got $rc: $out"
done
[ ! -e "$tmp/pwned" ] || fail "a host line was run by a shell"

step "test bed: 3 hosts ${shaping[*]}"
timeout 90 bash "$here/deploy/testbed.sh" up 3 --name "$name" --dir "$bed" --timeout 60 "${shaping[@]}"
switch="$(sed -n 's/^SWITCH_ADDRESS=//p' "$bed/info")"
[ "$(wc -l < "$bed/hosts")" = 3 ] || fail "$bed/hosts should list 3 hosts"

step "cluster.sh up --hosts over ssh, --tls-dir"
timeout 120 ip netns exec "$name" bash "$here/deploy/cluster.sh" up --hosts "$bed/hosts" --ssh-config "$bed/ssh_config" \
  --coordinator-host "$switch" --model "$model" --threads 1 --run-dir "$run_dir" --remote-log-dir "$tmp/remote-logs" \
  --timeout 60 --tls-dir "$tls"
server="$(cat "$run_dir/address")"
[ "$(wc -l < "$run_dir/remote-workers")" = 3 ] || fail "want 3 remote workers in $run_dir/remote-workers"
[ "$(stat -c %a "$tls/api-keys")" = 600 ] || fail "$tls/api-keys has mode $(stat -c %a "$tls/api-keys"), want 600"
key="$(grep -v '^#' "$tls/api-keys" | head -n 1)"
[ ${#key} -ge 16 ] || fail "no API key in $tls/api-keys"
# Each worker runs in its host's namespace, started by that host's sshd, with its own certificate;
# nothing runs with --insecure.
for i in 1 2 3; do
  commands="$(commands_in "$name-h$i")"
  address="$(sed -n "${i}p" "$bed/hosts" | cut -d' ' -f1)"
  grep -qF -- "pipeshard-worker --coordinator $server --listen $address:0 " <<< "$commands" ||
    fail "no worker in namespace $name-h$i: $commands"
  grep -qF -- "--tls-cert $tls/worker-$address-cpu.pem " <<< "$commands" ||
    fail "the worker in $name-h$i does not run with its certificate: $commands"
done
commands="$(commands_in "$name")"
grep -qF -- "--api-key-file $tls/api-keys" <<< "$commands" || fail "the coordinator runs without API keys: $commands"
for ns in "$name" "$name-h1" "$name-h2" "$name-h3"; do
  insecure="$(grep -E 'pipeshard-(worker|coordinator) .*--insecure' <<< "$(commands_in "$ns")" || true)"
  [ -z "$insecure" ] || fail "runs with --insecure in $ns: $insecure"
done

step "clients without the CA or without the key are refused"
rc=0
out="$(timeout 30 ip netns exec "$name" env -u PIPESHARD_API_KEY "$bin/pipeshard" status --server "$server" \
       --connect-timeout 3 2>&1)" || rc=$?
[ $rc = 1 ] || fail "status without --ca: want exit 1 (no connection), got $rc: $out"
rc=0
out="$(timeout 30 ip netns exec "$name" env -u PIPESHARD_API_KEY "$bin/pipeshard" status --server "$server" \
       --ca "$tls/ca.pem" --connect-timeout 10 2>&1)" || rc=$?
[[ $rc = 2 && "$out" = *"API key"* ]] || fail "status with --ca, without a key: want exit 2 asking for an API key, got $rc: $out"

step "generate through the cluster and run, greedy"
prompt="Once upon a time"
cluster_json="$(PIPESHARD_API_KEY="$key" timeout 60 ip netns exec "$name" "$bin/pipeshard" generate --server "$server" \
                --ca "$tls/ca.pem" --prompt "$prompt" -n 16 --temp 0 --json --connect-timeout 10 --timeout 40)"
chunk="$(grep -o '"prompt_chunk": *[0-9]*' <<< "$cluster_json" | grep -o '[0-9]*$')" ||
  fail "no prompt_chunk in generate's output: $cluster_json"
local_json="$(timeout 60 "$bin/pipeshard" run --model "$model" --prompt "$prompt" -n 16 --temp 0 --json \
              --threads 1 --ubatch "$chunk")"
cluster_tokens="$(grep -o '"tokens": *\[[^]]*\]' <<< "$cluster_json")" || fail "no tokens from the cluster: $cluster_json"
local_tokens="$(grep -o '"tokens": *\[[^]]*\]' <<< "$local_json")" || fail "no tokens from run: $local_json"
echo "cluster: $cluster_tokens"
echo "run:     $local_tokens"
[ "$cluster_tokens" = "$local_tokens" ] || fail "the cluster's tokens differ from run --ubatch $chunk"
[ "$(tr -cd ',' <<< "$cluster_tokens" | wc -c)" = 15 ] || fail "want 16 tokens: $cluster_tokens"

step "cluster.sh status (TLS and the key from the run folder)"
status="$(timeout 30 ip netns exec "$name" bash "$here/deploy/cluster.sh" status --run-dir "$run_dir")"
grep -q "state serving" <<< "$status" || fail "status does not say serving: $status"
for address in $(cut -d' ' -f1 "$bed/hosts"); do
  grep -q "$address-cpu" <<< "$status" || fail "status does not show worker $address-cpu: $status"
done

step "cluster.sh down"
timeout 60 ip netns exec "$name" bash "$here/deploy/cluster.sh" down --run-dir "$run_dir"
[ ! -e "$run_dir/remote-workers" ] || fail "down left $run_dir/remote-workers: $(cat "$run_dir/remote-workers")"
for ns in "$name" "$name-h1" "$name-h2" "$name-h3"; do
  left="$(grep -E 'pipeshard-(worker|coordinator)' <<< "$(commands_in "$ns")" || true)"
  [ -z "$left" ] || fail "still running in $ns after down: $left"
done

step "testbed.sh down"
timeout 60 bash "$here/deploy/testbed.sh" down --name "$name" --dir "$bed"
left="$(namespaces)"
[ -z "$left" ] || fail "namespaces left: $left"
[ ! -e "$bed" ] || fail "testbed.sh down left $bed"
for f in $(grep -laF -- "$tmp" /proc/[0-9]*/cmdline 2>/dev/null || true); do
  pid="${f//[^0-9]/}"
  [ "$pid" != $$ ] || continue
  command="$(tr '\0' ' ' 2>/dev/null < "$f" || true)"
  [ -z "$command" ] || fail "process $pid still runs: $command"
done
[ ! -e "$tmp/pwned" ] || fail "a path was run by a remote shell"
step "passed"
