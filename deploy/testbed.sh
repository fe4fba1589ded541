#!/usr/bin/env bash
# Test hosts on one machine: N network namespaces, each one "host" with its own address and sshd.
usage() {
  cat <<'EOF'
usage: deploy/testbed.sh up N [options]     make N hosts (removes leftovers of the same name first)
       deploy/testbed.sh down [options]     remove everything the test bed made
       deploy/testbed.sh status [options]   show what exists and whether each host answers ssh
       deploy/testbed.sh --help

options:
  --name NAME       test bed name, a letter then up to 11 letters, digits or _ (default psTB);
                    its namespaces are NAME (the switch) and NAME-h1 .. NAME-hN (the hosts)
  --dir DIR         its folder: keys, ssh config, sshd configs and logs (default run/testbed/NAME)
  --subnet A.B.C    the /24 inside the test bed (default 10.77.0): the switch is A.B.C.1,
                    host i is A.B.C.(10+i)
  --rate R          shape each host's link to R each way (tbf), e.g. 1gbit, 10gbit, 500mbit
  --delay D         one-way delay between two hosts, e.g. 0.2ms, 50us: each host's link adds
                    D/2 each way, so host to host is D and host to switch D/2 (see "Delay")
  --timeout S       deadline for the whole command in seconds (default 60)

Needs root, iproute2 (ip, tc) and openssh-server (sshd; deploy/install-deps.sh installs it).
The switch namespace NAME holds a bridge with address A.B.C.1; each host namespace has a veth
to it. Nothing is added to the machine's own network namespace, so the hosts are reachable only
from inside the test bed:

  ip netns exec NAME ssh -F DIR/ssh_config host1 hostname     (or the address, A.B.C.11)
  ip netns exec NAME bash deploy/cluster.sh up --hosts DIR/hosts --ssh-config DIR/ssh_config \
      --coordinator-host A.B.C.1

DIR/hosts lists every host with device cpu (deploy/cluster.sh's --hosts format); DIR/info holds
the names, addresses and shaping as KEY=VALUE lines (DELAY_MECHANISM: netem, nfqueue or none).
Each host's sshd listens on its address only, takes only the test bed's client key (root may log
in with it), and its host key is pre-listed in DIR/known_hosts. `down` kills every process in the
test bed's namespaces (sshd and whatever was started through it), deletes the namespaces and the
folder; it also cleans up after a failed or half-made `up`.

Delay: with tc netem (sch_netem) where the kernel has it, on both ends of each host's veth. A
kernel without it (and without sch_fq, which an EDT tc-bpf program setting skb->tstamp would
need) gets a userspace delay: iptables -t raw sends the packets arriving at each namespace to a
netfilter queue (NFQUEUE), and deploy/testbed/nfq_delay.c (compiled into DIR at `up`) accepts
each one D/2 (at a host, from the switch; at the switch, from a host) or D (at a host, from
another host) after its arrival, in order; the packets stay in the kernel, GSO packets whole,
and tbf (--rate) still shapes them. Only arriving packets wait, as on a wire: a packet held while
leaving still counts against its sender's socket, and TCP holds back what follows it. The timer
is about 10 µs late on a 2-vCPU VM; `ping -U` (user to user) between two hosts shows what was
added in all (ping's default RTT ends at the kernel's receive time, before the delay). It needs
the kernel's NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE, CONFIG_NETFILTER_XT_TARGET_NFQUEUE),
iptables (apt-get install iptables) and a C compiler (apt-get install gcc); without netem and
without those, --delay fails and says what is missing.
EOF
}
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "testbed.sh: $*" >&2; exit 2; }

command="${1:-}"
case "$command" in
  -h|--help|help) usage; exit 0 ;;
  up|down|status) shift ;;
  "") usage >&2; exit 2 ;;
  *) die "unknown command '$command' (up, down, status; --help)" ;;
esac

count=""
if [ "$command" = up ]; then
  [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]] || die "up needs the number of hosts: testbed.sh up N [options]"
  count="$1"; shift
elif [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  shift  # `down N` / `status N` are accepted: they act on every host of the name anyway
fi

name=psTB
dir=""
subnet=10.77.0
rate=""
delay=""
timeout=60
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name|--dir|--subnet|--rate|--delay|--timeout)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --name) name="$2" ;; --dir) dir="$2" ;; --subnet) subnet="$2" ;;
        --rate) rate="$2" ;; --delay) delay="$2" ;; --timeout) timeout="$2" ;;
      esac
      shift 2 ;;
    *) die "unknown option '$1' (--help)" ;;
  esac
done

# No '-' in the name: host namespaces are NAME-hI, so one bed's name can never be another's host.
[[ "$name" =~ ^[A-Za-z][A-Za-z0-9_]{0,11}$ ]] || die "--name '$name': want a letter then up to 11 letters, digits or _"
[[ "$timeout" =~ ^[0-9]+$ ]] && [ "$timeout" -ge 1 ] || die "--timeout '$timeout' is not a positive number of seconds"
[[ "$subnet" =~ ^(10|172|192)\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "--subnet '$subnet': want the first three numbers of a private /24, e.g. 10.77.0"
if [ -n "$count" ]; then
  [ "$count" -ge 1 ] && [ "$count" -le 64 ] || die "N '$count': want 1 to 64 hosts"
fi
[ -n "$dir" ] || dir="$here/run/testbed/$name"
dir="$(realpath -m "$dir")"
stamp="$dir/.pipeshard-testbed"  # marks a folder this script made, so `down` never removes anything else

rate_bits=""
if [ -n "$rate" ]; then
  [[ "$rate" =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || die "--rate '$rate': want a number with bit, kbit, mbit or gbit, e.g. 1gbit"
  case "${BASH_REMATCH[2]}" in
    bit) rate_bits=${BASH_REMATCH[1]} ;; kbit) rate_bits=$((BASH_REMATCH[1] * 1000)) ;;
    mbit) rate_bits=$((BASH_REMATCH[1] * 1000000)) ;; gbit) rate_bits=$((BASH_REMATCH[1] * 1000000000)) ;;
  esac
  [ "$rate_bits" -ge 8000 ] || die "--rate '$rate' is below 8kbit"
fi
half_delay_us=""
if [ -n "$delay" ]; then
  [[ "$delay" =~ ^([0-9]+)(\.([0-9]{1,3}))?(us|ms|s)$ ]] || die "--delay '$delay': want a time with us, ms or s, e.g. 0.2ms"
  frac="${BASH_REMATCH[3]}000"; frac="${frac:0:3}"
  case "${BASH_REMATCH[4]}" in
    us) delay_us=${BASH_REMATCH[1]} ;;
    ms) delay_us=$((BASH_REMATCH[1] * 1000 + 10#$frac)) ;;
    s) delay_us=$((BASH_REMATCH[1] * 1000000 + 10#$frac * 1000)) ;;
  esac
  half_delay_us=$((delay_us / 2))
  [ "$half_delay_us" -ge 1 ] || die "--delay '$delay' is below 2us"
fi

deadline=$((SECONDS + timeout))
# Runs a command with what is left of the deadline (at most 20 s, so one stuck step cannot eat all).
t() {
  local left=$((deadline - SECONDS))
  [ "$left" -ge 1 ] || { echo "testbed.sh: deadline of ${timeout}s passed before: $*" >&2; return 124; }
  [ "$left" -le 20 ] || left=20
  timeout --kill-after=2 "$left" "$@"
}

need_root() {
  [ "$(id -u)" = 0 ] || die "$command needs root (network namespaces)"
  command -v ip > /dev/null || die "ip not found (apt-get install iproute2)"
}

# The test bed's namespaces that exist now: NAME and NAME-hI.
namespaces() {
  t ip netns list | awk '{print $1}' | grep -E "^${name}(-h[0-9]+)?\$" || true
}

host_address() { echo "$subnet.$((10 + $1))"; }

# Is pid still running? A zombie (killed, not yet reaped by its parent) counts as gone.
running() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ] && [ "${stat:0:1}" != X ]
}

down() {
  local quiet="${1:-}" nss ns pids=() pid left=()
  deadline=$((SECONDS + timeout))  # its own deadline: also after an `up` that ran out of time
  nss="$(namespaces)"
  # Killing the shell that runs this would stop the cleanup halfway.
  local self_ns
  self_ns="$(t ip netns identify $$ 2>/dev/null || true)"
  if [ -n "$self_ns" ] && grep -qx -- "$self_ns" <<< "$nss"; then
    die "run '$command' from outside the test bed (this shell is in its namespace $self_ns)"
  fi
  for ns in $nss; do
    for pid in $(t ip netns pids "$ns" 2>/dev/null || true); do pids+=("$pid"); done
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Up to 3 s to exit, then SIGKILL, then up to 2 s more.
    local i
    for i in $(seq 50); do
      left=()
      for pid in "${pids[@]}"; do running "$pid" && left+=("$pid"); done
      [ ${#left[@]} -gt 0 ] || break
      [ "$i" != 30 ] || kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.1
    done
  fi
  local failed=0
  for ns in $nss; do
    t ip netns del "$ns" 2>/dev/null || true
  done
  nss="$(namespaces)"
  if [ -n "$nss" ]; then
    echo "testbed.sh: could not delete namespaces: ${nss//$'\n'/ }" >&2; failed=1
  fi
  left=()
  for pid in "${pids[@]}"; do running "$pid" && left+=("$pid"); done
  if [ ${#left[@]} -gt 0 ]; then
    echo "testbed.sh: processes still running after SIGKILL: ${left[*]}" >&2; failed=1
  fi
  if [ -f "$stamp" ]; then
    rm -rf -- "$dir"
    # The default parent, run/testbed, goes too once no test bed uses it.
    [ "$(dirname "$dir")" != "$here/run/testbed" ] || rmdir "$here/run/testbed" 2>/dev/null || true
  elif [ -e "$dir" ] && [ -z "$quiet" ]; then
    echo "testbed.sh: left $dir alone: it has no $(basename "$stamp"), so this script did not make it" >&2
  fi
  [ $failed = 0 ] || exit 1
  [ -n "$quiet" ] || echo "test bed $name removed${pids:+ (stopped ${#pids[@]} processes)}"
}

# ", nfq_delay PID ..." for namespace label $1 (host1.., switch) when --delay runs one there.
delayer_state() {
  [ -f "$dir/$1/nfq_delay.pid" ] || return 0
  local pid
  pid="$(cat "$dir/$1/nfq_delay.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    echo ", nfq_delay $pid delays arriving packets ($(sed -n 's/^DELAY=//p' "$dir/info" 2>/dev/null | head -n 1) host to host)"
  else
    echo ", nfq_delay $pid is gone: the packets it should delay are dropped"
  fi
}

delayer_gone() { [ -f "$dir/$1/nfq_delay.pid" ] && ! kill -0 "$(cat "$dir/$1/nfq_delay.pid")" 2>/dev/null; }

status() {
  local nss rc=0
  nss="$(namespaces)"
  if [ -z "$nss" ] && [ ! -e "$dir" ]; then echo "no test bed $name"; exit 3; fi
  echo "test bed $name, folder $dir"
  if grep -qx -- "$name" <<< "$nss"; then
    echo "  $name: switch $(t ip -n "$name" -brief addr show dev br0 2>/dev/null | awk '{print $3}')$(delayer_state switch)"
    ! delayer_gone switch || rc=1
  else
    echo "  $name: missing"; rc=1
  fi
  local host i=0 ns sshd_pid state
  for ns in $(grep -E -- "-h[0-9]+\$" <<< "$nss" | sort -V); do
    i="${ns##*-h}"
    host="host$i"
    sshd_pid="$(cat "$dir/$host/sshd.pid" 2>/dev/null || true)"
    if [ -n "$sshd_pid" ] && kill -0 "$sshd_pid" 2>/dev/null; then
      if grep -qx -- "$name" <<< "$nss" &&
         t ip netns exec "$name" ssh -F "$dir/ssh_config" -o ConnectTimeout=3 "$host" true < /dev/null 2>/dev/null; then
        state="ssh ok"
      else
        state="sshd $sshd_pid runs but ssh fails"; rc=1
      fi
    else
      state="no sshd"; rc=1
    fi
    local shaping
    shaping="$(t ip netns exec "$ns" tc qdisc show dev eth0 2>/dev/null | awk '$2 == "netem" || $2 == "tbf"' | sed 's/ refcnt [0-9]*//; s/^qdisc //' | paste -sd ';' -)"
    echo "  $ns: $host $(t ip -n "$ns" -brief addr show dev eth0 2>/dev/null | awk '{print $3}'), $state, $(t ip netns pids "$ns" | wc -l) processes${shaping:+, eth0: $shaping}$(delayer_state "$host")"
    ! delayer_gone "$host" || rc=1
  done
  exit $rc
}

# --delay's mechanism: netem where this kernel has it, else nfqueue (nfq_delay); set by up.
delay_mechanism=none
iptables_cmd=""

# tc on one end of a host's link: --delay/2 (netem) and --rate (tbf), the rate under the delay.
shape() {
  local ns="$1" dev="$2" parent=root
  if [ -n "$half_delay_us" ] && [ "$delay_mechanism" = netem ]; then
    t ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: netem delay "${half_delay_us}us" limit 100000 ||
      die "tc netem failed on $dev in $ns (this kernel may lack sch_netem, CONFIG_NET_SCH_NETEM): --delay cannot be used here"
    parent="parent 1:1"
  fi
  if [ -n "$rate_bits" ]; then
    # burst: 1 ms at the rate, at least 128 KiB so that a 64 KiB GSO packet passes whole.
    local burst=$((rate_bits / 8 / 1000))
    [ "$burst" -ge 131072 ] || burst=131072
    # shellcheck disable=SC2086 # parent is "root" or "parent 1:1"
    t ip netns exec "$ns" tc qdisc add dev "$dev" $parent handle 2: tbf rate "$rate_bits" burst "$burst" latency 50ms ||
      die "tc tbf failed on $dev in $ns (this kernel may lack sch_tbf): --rate cannot be used here"
  fi
}

# --delay without netem: nfq_delay in namespace $1 (its files DIR/$2/nfq_delay.*) holds the
# packets that iptables rules $4.. (each a quoted list of match arguments, queue number appended)
# send to its queues, given as $3: "--queue 0 --delay-us N ..." (see "Delay" in --help).
delayer() {
  local ns="$1" label="$2" queues="$3" rule
  shift 3
  mkdir -p "$dir/$label"
  # setsid: the daemon outlives this script, in its namespace, until `down` ends it.
  # shellcheck disable=SC2086 # queues is a list of arguments
  ip netns exec "$ns" setsid "$dir/nfq_delay" $queues --rt 10 --spin-us 50 \
    --ready "$dir/$label/nfq_delay.pid" < /dev/null > "$dir/$label/nfq_delay.log" 2>&1 &
  local pid=$!
  until [ -s "$dir/$label/nfq_delay.pid" ]; do
    if ! kill -0 "$pid" 2> /dev/null; then
      cat "$dir/$label/nfq_delay.log" >&2
      die "nfq_delay did not start in $ns: --delay needs the kernel's NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE, CONFIG_NETFILTER_XT_TARGET_NFQUEUE) and SCHED_FIFO"
    fi
    [ $SECONDS -lt $deadline ] || die "nfq_delay did not start in $ns within --timeout"
    sleep 0.05
  done
  # Only once it listens: a queue without a reader drops its packets.
  for rule in "$@"; do
    # shellcheck disable=SC2086 # rule is a list of arguments
    t ip netns exec "$ns" "$iptables_cmd" -w 5 -t raw -A PREROUTING $rule ||
      die "$iptables_cmd could not add the NFQUEUE rule '$rule' in $ns (the kernel may lack CONFIG_NETFILTER_XT_TARGET_NFQUEUE): --delay cannot be used here"
  done
}

up() {
  local sshd
  sshd="$(command -v sshd || echo /usr/sbin/sshd)"
  [ -x "$sshd" ] || die "sshd not found (apt-get install openssh-server, or bash deploy/install-deps.sh)"
  command -v ssh > /dev/null && command -v ssh-keygen > /dev/null || die "ssh / ssh-keygen not found (apt-get install openssh-client)"
  if [ -n "$rate$delay" ]; then command -v tc > /dev/null || die "tc not found (apt-get install iproute2)"; fi
  if [ -e "$dir" ] && [ ! -f "$stamp" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    die "--dir $dir exists and was not made by testbed.sh; give an empty or new folder"
  fi

  down quiet  # leftovers of the same name: a crashed run or a half-made up
  # From here on a failure, Ctrl-C or the deadline removes whatever was made.
  trap 'rc=$?; [ $rc = 0 ] || { echo "testbed.sh: up failed; removing what it made" >&2; down quiet || true; }' EXIT
  trap 'exit 130' INT TERM

  mkdir -p "$dir"
  chmod 700 "$dir"
  echo "$name" > "$stamp"
  # sshd's privilege-separation folder; the package's service makes it, but it never ran here.
  [ -d /run/sshd ] || install -d -m 755 /run/sshd

  t ssh-keygen -q -t ed25519 -N '' -C "pipeshard-testbed-$name-client" -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  : > "$dir/known_hosts"
  : > "$dir/hosts"

  local switch="$subnet.1"
  t ip netns add "$name"
  t ip -n "$name" link set lo up
  t ip -n "$name" link add name br0 type bridge
  t ip -n "$name" addr add "$switch/24" dev br0
  t ip -n "$name" link set br0 up

  if [ -n "$half_delay_us" ]; then
    # netem where the kernel has it, asked on the switch namespace's own lo.
    if t ip netns exec "$name" tc qdisc add dev lo root netem delay 1us > /dev/null 2>&1; then
      t ip netns exec "$name" tc qdisc del dev lo root
      delay_mechanism=netem
    else
      delay_mechanism=nfqueue
      local cc
      iptables_cmd="$(command -v iptables || command -v iptables-legacy || true)"
      cc="$(command -v cc || command -v gcc || command -v clang || true)"
      local missing=""
      [ -n "$iptables_cmd" ] || missing="iptables (apt-get install iptables)"
      [ -n "$cc" ] || missing="${missing:+$missing and }a C compiler (apt-get install gcc)"
      [ -z "$missing" ] ||
        die "--delay: this kernel has no tc netem (sch_netem); the fallback, a netfilter queue and deploy/testbed/nfq_delay.c, needs $missing"
      t "$cc" -O2 -Wall -o "$dir/nfq_delay" "$here/deploy/testbed/nfq_delay.c" ||
        die "--delay: could not compile deploy/testbed/nfq_delay.c"
    fi
  fi

  local user ssh_hosts="" i ns address host
  user="$(id -un)"
  for ((i = 1; i <= count; i++)); do
    ns="$name-h$i"; address="$(host_address "$i")"; host="host$i"
    t ip netns add "$ns"
    t ip -n "$ns" link set lo up
    # Both ends are made inside the test bed: nothing touches the machine's own namespace.
    t ip -n "$name" link add name "v$i" type veth peer name eth0 netns "$ns"
    t ip -n "$name" link set "v$i" master br0
    t ip -n "$name" link set "v$i" up
    t ip -n "$ns" addr add "$address/24" dev eth0
    t ip -n "$ns" link set eth0 up
    t ip -n "$ns" route add default via "$switch"
    shape "$ns" eth0
    shape "$name" "v$i"

    mkdir -p "$dir/$host"
    # Arriving packets only (see nfq_delay.c): from the switch D/2 (queue 0), from another host D
    # (queue 1), its D/2 and this host's.
    [ "$delay_mechanism" != nfqueue ] ||
      delayer "$ns" "$host" "--queue 0 --delay-us $half_delay_us --queue 1 --delay-us $((2 * half_delay_us))" \
        "-i eth0 -s $switch -j NFQUEUE --queue-num 0" "-i eth0 -j NFQUEUE --queue-num 1"
    t ssh-keygen -q -t ed25519 -N '' -C "pipeshard-testbed-$name-$host" -f "$dir/$host/host_key"
    # StrictModes off: the keys may live under /tmp (world-writable), which StrictModes refuses
    # for every path above authorized_keys; the folder itself is 0700 and root's.
    cat > "$dir/$host/sshd_config" <<EOF
# sshd of test-bed host $host ($ns), made by deploy/testbed.sh
ListenAddress $address:22
AddressFamily inet
HostKey $dir/$host/host_key
PidFile $dir/$host/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PermitEmptyPasswords no
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
PrintMotd no
MaxStartups 64:30:128
LogLevel INFO
EOF
    t "$sshd" -t -f "$dir/$host/sshd_config" || die "sshd rejects $dir/$host/sshd_config"
    # sshd forks into the background and writes its pid file once it listens.
    t ip netns exec "$ns" "$sshd" -f "$dir/$host/sshd_config" -E "$dir/$host/sshd.log" ||
      { tail -n 5 "$dir/$host/sshd.log" >&2 2>/dev/null || true; die "sshd of $host did not start"; }
    echo "$address,$host $(cut -d' ' -f1,2 "$dir/$host/host_key.pub")" >> "$dir/known_hosts"
    echo "$address cpu" >> "$dir/hosts"
    ssh_hosts+="
Host $host $address
  HostName $address"
  done

  # The switch's own address (the coordinator's, for one) gets D/2 from every host; frames the
  # bridge forwards from host to host are not addressed to it.
  [ "$delay_mechanism" != nfqueue ] ||
    delayer "$name" switch "--queue 0 --delay-us $half_delay_us" "-i br0 -d $switch -j NFQUEUE --queue-num 0"

  cat > "$dir/ssh_config" <<EOF
# ssh -F $dir/ssh_config hostI: the hosts of test bed $name (made by deploy/testbed.sh).
# Reachable only from inside the test bed: ip netns exec $name ssh -F ... host1
$ssh_hosts

Host *
  User $user
  IdentityFile $dir/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  PasswordAuthentication no
  ConnectTimeout 5
  ServerAliveInterval 5
  ServerAliveCountMax 3
  LogLevel ERROR
EOF
  cat > "$dir/info" <<EOF
NAME=$name
NAMESPACE=$name
SWITCH_ADDRESS=$switch
HOSTS=$count
HOST_NAMESPACES="$(for ((i = 1; i <= count; i++)); do printf '%s ' "$name-h$i"; done | sed 's/ $//')"
HOST_ADDRESSES="$(for ((i = 1; i <= count; i++)); do printf '%s ' "$(host_address "$i")"; done | sed 's/ $//')"
SSH_CONFIG=$dir/ssh_config
HOSTS_FILE=$dir/hosts
RATE=$rate
DELAY=$delay
DELAY_MECHANISM=$delay_mechanism
EOF

  # Ready when every host answers ssh through the config, from the switch's namespace; all hosts
  # at once, as each ssh may take seconds on a busy machine.
  local checks=() failed=0
  for ((i = 1; i <= count; i++)); do
    host="host$i"
    (
      until t ip netns exec "$name" ssh -F "$dir/ssh_config" -o ConnectTimeout=2 "$host" true < /dev/null 2> "$dir/$host/ssh-check.err"; do
        [ $SECONDS -lt $deadline ] || exit 1
        sleep 0.2
      done
    ) &
    checks+=($!)
  done
  for ((i = 1; i <= count; i++)); do
    host="host$i"
    if wait "${checks[$((i - 1))]}"; then rm -f "$dir/$host/ssh-check.err"; continue; fi
    echo "testbed.sh: ssh to $host ($(host_address "$i")) does not work after ${timeout}s:" >&2
    cat "$dir/$host/ssh-check.err" >&2
    tail -n 5 "$dir/$host/sshd.log" >&2 2>/dev/null || true
    failed=1
  done
  [ $failed = 0 ] || exit 1
  trap - EXIT INT TERM
  echo "test bed $name up: $count hosts ($subnet.11 .. $(host_address "$count")), switch $switch in namespace $name${rate:+, rate $rate}${delay:+, delay $delay host to host ($delay_mechanism)}"
  echo "  ip netns exec $name ssh -F $dir/ssh_config host1 hostname"
  echo "  hosts file for deploy/cluster.sh --hosts: $dir/hosts"
}

need_root
case "$command" in
  up) up ;;
  down) down ;;
  status) status ;;
esac
