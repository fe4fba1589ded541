#!/usr/bin/env bash
# What links between hosts cost the pipeline, and what mutual TLS costs a hop.
usage() {
  cat <<'EOF'
usage: bench/link_bench.sh [links] [--rounds R] [--prompt-tokens P] [--decode N] [--model M]
                           [--configs "loopback unshaped 10gbit 1gbit+0.2ms ..."] [--timeout S]
       bench/link_bench.sh tls-frames [--rounds R] [--runs K] [--cols C] [--rows "1 128 512"]

links (default): S=2 clusters of one-thread CPU workers, all with mutual TLS and an API key
(deploy/cluster.sh --tls-dir), all up at once, the runs alternating between them round after
round (the first cluster of a round rotates); medians over the rounds. Configurations:
  loopback        both workers and the coordinator on 127.0.0.1 (cluster.sh up --workers 2)
  10gbit, 1gbit   two test-bed hosts (deploy/testbed.sh up 2 --rate R: network namespaces with
                  their own sshd, every link shaped with tbf), one worker on each, started over
                  ssh (cluster.sh --hosts), the coordinator on the test bed's switch
  1gbit+0.2ms     the same with a one-way delay D between the hosts (testbed.sh --delay D: D/2
                  on each host's link each way, so D/2 between the coordinator and a host)
  0.2ms           the same with a delay alone, without --rate
  unshaped        the same on two test-bed hosts without --rate or --delay: what the rates cost
                  is measured against it too, between clusters started the same way
  loopback-plain  as loopback without TLS and API keys (what TLS costs a whole cluster)
Each round and configuration runs `pipeshard bench --server ADDR -p P -n N -r 1 --json` (one
P-token prefill, one N-token single-stream decode). The table gives prefill and decode tokens/s
with their ratios against loopback (of the medians, and paired: each round against loopback's
run of that round), decode ms per token with the step's compute and link parts, and the ping
round trip between the hosts (min/median/max of 50, ping -U); JSON follows the table and goes to run/bench/link/links.json.
A cluster whose layer split differs from the first one's is started again (a slow speed probe
on a busy machine moves layers); one lost mid-run is restarted, twice at most.

Delay: per decode token the data crosses coordinator -> stage 0 (D/2), stage 0 -> stage 1 (D) and
stage 1 -> coordinator (D/2), 2D in all. For each configuration with a delay the output gives
what its decode lost per token against the same links without it (the configuration of the same
rate, else unshaped, else loopback; median of each round's difference), against 2D and against
what the pings measured the delay to add (half the host-to-host round trip's growth plus the
switch-to-host one's). testbed.sh delays with tc netem where the kernel has it, else with a
netfilter queue and a userspace program (deploy/testbed/nfq_delay.c, which adds its own
wake-ups: the pings show it); the output says which. Needs root, iproute2 (tc with tbf),
openssh-server, and for a delay without netem iptables and a C compiler; the machine should
have 3 free cores (two workers and the client).

tls-frames: pipeshard-frame-bench (one gRPC hop on loopback: round trip and one-way, per frame
size) without and with mutual TLS (--tls-dir, certificates made once in run/bench/link/tls-frames),
the two alternating R times; medians of the rounds and the ratio TLS / plain in microseconds per
frame. JSON follows the table and goes to run/bench/link/tls-frames.json.

Without --model, links makes (once) run/bench-1024x16-q8_0-llama3.gguf as bench/cluster_bench.sh
does (0.5B shape, Llama 3 vocabulary, q8_0). Defaults: --rounds 3, -p 1024, -n 64; tls-frames
--runs 3 (the frame bench's own median per round), --cols 4096, --rows "1 128 512".
EOF
}
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
export PIPESHARD_BIN="$bin"

die() { echo "link_bench.sh: $*" >&2; exit 2; }

mode=links
case "${1:-}" in
  links|tls-frames) mode="$1"; shift ;;
  -h|--help|help) usage; exit 0 ;;
esac
rounds=3
prompt=1024
decode=64
model=""
configs="loopback unshaped 10gbit 1gbit loopback-plain"
delay_re='[0-9]+(\.[0-9]{1,3})?(us|ms)'
rate_re='[0-9]+(bit|kbit|mbit|gbit)'
timeout=300
runs=3
cols=4096
rows="1 128 512"
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --rounds|--prompt-tokens|--decode|--model|--configs|--timeout|--runs|--cols|--rows)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --rounds) rounds="$2" ;; --prompt-tokens) prompt="$2" ;; --decode) decode="$2" ;;
        --model) model="$2" ;; --configs) configs="$2" ;; --timeout) timeout="$2" ;;
        --runs) runs="$2" ;; --cols) cols="$2" ;; --rows) rows="$2" ;;
      esac
      shift 2 ;;
    *) die "unknown option '$1' (--help)" ;;
  esac
done
positive() { if [[ ! "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then die "$1 '$2' is not a positive number"; fi; }
positive --rounds "$rounds"; positive --prompt-tokens "$prompt"; positive --decode "$decode"
positive --timeout "$timeout"; positive --runs "$runs"; positive --cols "$cols"
for r in $rows; do positive --rows "$r"; done

work="$here/run/bench/link"
mkdir -p "$work"
# links: per configuration its run folder, TLS folder ("" without TLS), test bed (name and folder;
# none on loopback), coordinator address, API key, stages and ping. Global: the EXIT trap reads them.
declare -A run_dir=() tls=() bed=() bed_dir=() address=() key=() plan=() rtt=() rtt_hh=() rtt_sh=() mechanism=()

# A configuration's rate and delay ("" when it has none), and whether it runs on a test bed.
rate_of() { [[ "$1" =~ ^([0-9]+(bit|kbit|mbit|gbit)) ]] && echo "${BASH_REMATCH[1]}" || true; }
delay_of() { [[ "$1" =~ ^([0-9]+(bit|kbit|mbit|gbit)\+)?([0-9.]+(us|ms))$ ]] && echo "${BASH_REMATCH[3]}" || true; }
on_bed() { [ "$1" = unshaped ] || [ -n "$(rate_of "$1")$(delay_of "$1")" ]; }
# A delay in ms ("0.2ms" -> 0.2, "50us" -> 0.05).
delay_ms() { awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /us$/) v /= 1000; print v }'; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# a / b with 2 decimals ("-" when b is 0 or missing)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
# The median over rounds of list $1 / list $2, element by element (the same round's runs): runs
# close in time share the machine's load, which a ratio of medians does not cancel.
paired_ratio() {
  paste -d ' ' <(tr ' ' '\n' <<< "$1" | grep -v '^$') <(tr ' ' '\n' <<< "$2" | grep -v '^$') |
    awk '$2 > 0 { print $1 / $2 }' | median | awk '{ printf "%.2f", $1 }'
}
# The median over rounds of (1000 / $1 - 1000 / $2), element by element: the ms per token a
# configuration's decode (tok/s, list $1) lost against another's of the same round (list $2).
paired_ms_diff() {
  paste -d ' ' <(tr ' ' '\n' <<< "$1" | grep -v '^$') <(tr ' ' '\n' <<< "$2" | grep -v '^$') |
    awk '$1 > 0 && $2 > 0 { print 1000 / $1 - 1000 / $2 }' | median | awk '{ printf "%.3f", $1 }'
}
# The same for two lists of ms (a - b).
paired_diff() {
  paste -d ' ' <(tr ' ' '\n' <<< "$1" | grep -v '^$') <(tr ' ' '\n' <<< "$2" | grep -v '^$') |
    awk 'NF == 2 { print $1 - $2 }' | median | awk '{ printf "%.3f", $1 }'
}
field() { grep -o "\"$1\":[0-9.eE+-]*" | head -n 1 | cut -d: -f2; }

# ---------------------------------------------------------------------------------------------
tls_frames() {
  local frame_bench="$bin/pipeshard-frame-bench"
  [ -x "$frame_bench" ] || die "$frame_bench not found (ninja -C build pipeshard-frame-bench)"
  local dir="$work/tls-frames"
  if [ ! -f "$dir/coordinator.pem" ]; then
    rm -rf "$dir"
    "$bin/pipeshard" certs init --dir "$dir" > /dev/null
    "$bin/pipeshard" certs issue --dir "$dir" coordinator > /dev/null
  fi
  local row_flags=() r
  for r in $rows; do row_flags+=(--rows "$r"); done
  # us_per_frame of each "mode rows" from the frame bench's JSON (one key a line, keys sorted).
  parse() {
    awk -F': *' '/"mode"/ { gsub(/[",]/, "", $2); m = $2 } /"rows"/ { gsub(/,/, "", $2); r = $2 }
                 /"us_per_frame"/ { gsub(/,/, "", $2); print m, r, $2 }'
  }
  local -A us=()
  local round kind order out mode_name row value
  for ((round = 1; round <= rounds; round++)); do
    # Plain first in odd rounds, TLS first in even ones: neither always runs on a warmer machine.
    if [ $((round % 2)) = 1 ]; then order="plain tls"; else order="tls plain"; fi
    for kind in $order; do
      local tls_flag=()
      [ "$kind" = plain ] || tls_flag=(--tls-dir "$dir")
      out="$(timeout --kill-after=5 "$timeout" "$frame_bench" --json --runs "$runs" --cols "$cols" "${row_flags[@]}" "${tls_flag[@]}")" ||
        die "pipeshard-frame-bench ($kind) failed or ran past --timeout $timeout s"
      while read -r mode_name row value; do
        us["$kind $mode_name $row"]+=" $value"
      done < <(parse <<< "$out")
      echo "round $round/$rounds: $kind done" >&2
    done
  done
  echo "pipeshard-frame-bench on loopback, $cols-wide F32 frames; $rounds alternating rounds of --runs $runs, medians of the rounds (µs per frame)"
  printf '%-10s %6s %10s %12s %12s %8s\n' mode rows "payload" "plain µs" "mTLS µs" "ratio"
  local json="" a b bytes
  for mode_name in round_trip one_way; do
    for row in $rows; do
      a="$(median <<< "${us[plain $mode_name $row]:-}")"; b="$(median <<< "${us[tls $mode_name $row]:-}")"
      [[ -n "$a" && -n "$b" ]] || die "no $mode_name figures for $row rows from pipeshard-frame-bench"
      a="$(awk -v v="$a" 'BEGIN { printf "%.1f", v }')"; b="$(awk -v v="$b" 'BEGIN { printf "%.1f", v }')"
      bytes=$((row * cols * 4))
      printf '%-10s %6s %10s %12.1f %12.1f %8s\n' "$mode_name" "$row" "$((bytes / 1024)) KiB" "$a" "$b" "$(ratio "$b" "$a")x"
      json+="${json:+,}{\"mode\":\"$mode_name\",\"rows\":$row,\"cols\":$cols,\"payload_bytes\":$bytes,\"plain_us_per_frame\":$a,\"tls_us_per_frame\":$b,\"ratio\":$(ratio "$b" "$a"),\"plain_runs\":[$(tr -s ' ' ',' <<< "${us[plain $mode_name $row]# }")],\"tls_runs\":[$(tr -s ' ' ',' <<< "${us[tls $mode_name $row]# }")]}"
    done
  done
  json="{\"benchmark\":\"tls-frames\",\"commit\":\"$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)\",\"rounds\":$rounds,\"runs\":$runs,\"results\":[$json]}"
  echo "$json" > "$work/tls-frames.json"
  echo "$json"
}

# ---------------------------------------------------------------------------------------------
links() {
  [ "$(id -u)" = 0 ] || die "links needs root (network namespaces for the test-bed hosts)"
  for program in pipeshard pipeshard-coordinator pipeshard-worker; do
    [ -x "$bin/$program" ] || die "$bin/$program not found (build first)"
  done
  local c
  for c in $configs; do
    case "$c" in loopback|loopback-plain|unshaped) ;; *)
      [[ "$c" =~ ^($rate_re|$rate_re\+$delay_re|$delay_re)$ ]] ||
        die "--configs: unknown configuration '$c' (loopback, loopback-plain, unshaped, a rate such as 10gbit, a rate and a delay such as 1gbit+0.2ms, or a delay such as 0.2ms)" ;;
    esac
  done
  [[ " $configs " = *" loopback "* ]] || die "--configs must include loopback (the ratios are against it)"
  if [ -z "$model" ]; then
    model="$here/run/bench-1024x16-q8_0-llama3.gguf"
    [ -f "$model" ] || "$bin/pipeshard" make-model "$model" --dim 1024 --layers 16 --heads 16 --kv-heads 4 \
      --ff 4096 --ctx 4096 --type q8_0 --vocab llama3 > /dev/null
  fi
  [ -f "$model" ] || die "--model '$model' does not exist"
  model="$(realpath "$model")"
  local ctx=$((prompt + decode + 64))

  local bed_index=0
  for c in $configs; do
    run_dir[$c]="$work/cluster-$c"
    tls[$c]=""; [ "$c" = loopback-plain ] || tls[$c]="$work/tls-$c"
    if on_bed "$c"; then
      bed_index=$((bed_index + 1))
      bed[$c]="psLB$bed_index"; bed_dir[$c]="$work/testbed-$c"
      # Per test bed, not per rate: the coordinator's certificate names the bed's switch address.
      tls[$c]="$work/tls-${bed[$c]}"
    fi
  done
  # Whatever happens, the clusters stop and the test beds go.
  cleanup() {
    local rc=$? c
    trap - EXIT INT TERM
    for c in $configs; do
      if [ -n "${bed[$c]:-}" ]; then
        if ip netns list | awk '{print $1}' | grep -qx -- "${bed[$c]}"; then
          timeout 60 ip netns exec "${bed[$c]}" bash "$here/deploy/cluster.sh" down --run-dir "${run_dir[$c]}" > /dev/null 2>&1 || true
        fi
        timeout 90 bash "$here/deploy/testbed.sh" down --name "${bed[$c]}" --dir "${bed_dir[$c]}" > /dev/null 2>&1 ||
          { echo "link_bench.sh: could not remove test bed ${bed[$c]} (deploy/testbed.sh down --name ${bed[$c]})" >&2; rc=1; }
      else
        timeout 60 bash "$here/deploy/cluster.sh" down --run-dir "${run_dir[$c]}" > /dev/null 2>&1 || true
      fi
    done
    exit $rc
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  # Round trip of 50 pings from namespace $1 ("": this one) to $2, in ms: ping_summary gets
  # "min/median/max", ping_median the median alone (empty when ping failed). User to user (-U):
  # ping's default ends at the kernel's receive time, before a delay on arrival (testbed.sh).
  local ping_summary="" ping_median=""
  ping_rtt() {
    local out ns=()
    ping_median=""
    [ -z "$1" ] || ns=(ip netns exec "$1")
    command -v ping > /dev/null || { ping_summary="(no ping: apt-get install iputils-ping)"; return 0; }
    out="$(timeout 30 "${ns[@]}" ping -U -n -c 50 -i 0.02 -W 2 "$2" 2>&1)" || { ping_summary="(ping failed)"; return 0; }
    out="$(sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' <<< "$out" | sort -g)"
    ping_median="$(median <<< "$out")"
    ping_summary="$(head -n 1 <<< "$out")/$ping_median/$(tail -n 1 <<< "$out")"
  }

  # Starts configuration $1's cluster (its test bed first, when it has one).
  start() {
    local c="$1" common=(--model "$model" --threads 1 --ctx "$ctx" --max-seqs 2 --run-dir "${run_dir[$1]}" --timeout "$timeout")
    [ -z "${tls[$c]}" ] || common+=(--tls-dir "${tls[$c]}")
    if [ -n "${bed[$c]:-}" ]; then
      local switch
      switch="$(sed -n 's/^SWITCH_ADDRESS=//p' "${bed_dir[$c]}/info")"
      timeout $((timeout + 60)) ip netns exec "${bed[$c]}" bash "$here/deploy/cluster.sh" up --hosts "${bed_dir[$c]}/hosts" \
        --ssh-config "${bed_dir[$c]}/ssh_config" --coordinator-host "$switch" --remote-log-dir "${bed_dir[$c]}/logs" \
        "${common[@]}" > /dev/null
    else
      timeout $((timeout + 60)) bash "$here/deploy/cluster.sh" up --workers 2 "${common[@]}" > /dev/null
    fi
    address[$c]="$(cat "${run_dir[$c]}/address")"
    key[$c]=""
    [ -z "${tls[$c]}" ] || key[$c]="$(grep -v '^#' "${tls[$c]}/api-keys" | head -n 1)"
    plan[$c]="$(client "$c" status --server "${address[$c]}" | awk '$1 ~ /^[0-9]+$/ { printf "%s%s %s", sep, $2, $5; sep = ", " }')"
  }
  stop() {
    if [ -n "${bed[$1]:-}" ]; then
      timeout 60 ip netns exec "${bed[$1]}" bash "$here/deploy/cluster.sh" down --run-dir "${run_dir[$1]}" > /dev/null
    else
      timeout 60 bash "$here/deploy/cluster.sh" down --run-dir "${run_dir[$1]}" > /dev/null
    fi
  }
  # The layer ranges alone ("[0,8) [8,16)"), without the worker names.
  ranges() { grep -o '\[[0-9]*,[0-9]*)' <<< "${plan[$1]}" | paste -sd ' ' - || true; }

  # The planner cuts the layers by each worker's measured speed; on a busy machine one probe can
  # come out slow and move layers. Every cluster must have the first one's split, or the
  # comparison would measure the planner: a cluster with another split is started again.
  local first=""
  bring_up() {
    local c="$1" attempt
    for attempt in 1 2 3 4; do
      start "$c"
      [ -n "$first" ] || first="$c"
      [ "$(ranges "$c")" != "$(ranges "$first")" ] || return 0
      if [ $attempt = 4 ]; then
        echo "link_bench.sh: WARNING: $c keeps the split $(ranges "$c") against $first's $(ranges "$first") after 4 starts" >&2
        return 0
      fi
      echo "  $c: split $(ranges "$c") differs from $first's $(ranges "$first"); starting it again" >&2
      stop "$c"
    done
  }

  echo "starting: $configs (model $(basename "$model"), ctx $ctx)" >&2
  for c in $configs; do
    if [ -n "${bed[$c]:-}" ]; then
      # Its own subnet per test bed, so that no address means two things in the output.
      local shaping=()
      [ -z "$(rate_of "$c")" ] || shaping+=(--rate "$(rate_of "$c")")
      [ -z "$(delay_of "$c")" ] || shaping+=(--delay "$(delay_of "$c")")
      timeout $((timeout + 30)) bash "$here/deploy/testbed.sh" up 2 --name "${bed[$c]}" --dir "${bed_dir[$c]}" \
        --subnet "10.$((77 + ${bed[$c]#psLB})).0" "${shaping[@]}" --timeout 60 > /dev/null
      mechanism[$c]="$(sed -n 's/^DELAY_MECHANISM=//p' "${bed_dir[$c]}/info")"
      local h1 h2 hh
      h1="$(sed -n 1p "${bed_dir[$c]}/hosts" | cut -d' ' -f1)"; h2="$(sed -n 2p "${bed_dir[$c]}/hosts" | cut -d' ' -f1)"
      ping_rtt "${bed[$c]}-h1" "$h2"; hh="$ping_summary"; rtt_hh[$c]="$ping_median"
      ping_rtt "${bed[$c]}" "$h1"; rtt_sh[$c]="$ping_median"
      rtt[$c]="$hh host to host, $ping_summary switch to host"
    else
      timeout 60 bash "$here/deploy/cluster.sh" down --run-dir "${run_dir[$c]}" > /dev/null 2>&1 || true
      ping_rtt "" 127.0.0.1; rtt[$c]="$ping_summary loopback"; rtt_hh[$c]="$ping_median"; rtt_sh[$c]="$ping_median"
    fi
    bring_up "$c"
    echo "  $c: ${address[$c]}, stages ${plan[$c]}, ping rtt min/median/max ms ${rtt[$c]}" >&2
  done

  local -A prefill=() dec=() links_ms=() step_ms=() compute_ms=()
  local -a order
  read -r -a order <<< "$configs"
  local round k n=${#order[@]} json_out restarts=0
  for ((round = 0; round < rounds; round++)); do
    for ((k = 0; k < n; k++)); do
      c="${order[$(((round + k) % n))]}"
      # On a shared machine a cluster can be lost to someone else's cleanup or a rebuild: it is
      # started again and the run repeated, twice at most over the whole benchmark.
      until json_out="$(client "$c" bench --server "${address[$c]}" -p "$prompt" -n "$decode" -r 1 --json)"; do
        [ $restarts -lt 2 ] || die "pipeshard bench on $c (${address[$c]}) failed, after $restarts cluster restarts"
        restarts=$((restarts + 1))
        echo "link_bench.sh: pipeshard bench on $c failed; starting its cluster again (log: ${run_dir[$c]}/coordinator.log)" >&2
        cp "${run_dir[$c]}/coordinator.log" "${run_dir[$c]}/coordinator.log.failed-$restarts" 2>/dev/null || true
        stop "$c" || true
        bring_up "$c"
      done
      local pf df
      pf="$(field prefill_tokens_per_s <<< "$json_out" || true)"; df="$(field decode_tokens_per_s <<< "$json_out" || true)"
      [[ -n "$pf" && -n "$df" ]] || die "no prefill or decode figure from pipeshard bench on $c: $json_out"
      prefill[$c]+=" $pf"; dec[$c]+=" $df"
      local steps
      steps="$(grep -o '"decode_step_ms":{[^}]*}' <<< "$json_out" || true)"
      links_ms[$c]+=" $(field links <<< "$steps" || true)"
      step_ms[$c]+=" $(field step <<< "$steps" || true)"
      compute_ms[$c]+=" $(field compute <<< "$steps" || true)"
    done
    echo "round $((round + 1))/$rounds done" >&2
  done

  local commit
  commit="$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "S=2 clusters of one-thread CPU workers, model $(basename "$model"); $rounds alternating rounds, medians;"
  [ $restarts = 0 ] || echo "($restarts cluster(s) lost during the rounds and started again, stderr says which)"
  echo "pipeshard bench --server -p $prompt -n $decode -r 1 per round; commit $commit, $(nproc) cores"
  for c in $configs; do
    [ -n "$(delay_of "$c")" ] || continue
    if [ "${mechanism[$c]:-}" = nfqueue ]; then
      echo "$c: delay by a netfilter queue and deploy/testbed/nfq_delay.c (this kernel has no tc netem): the pings"
      echo "  show what it adds in all, its own wake-ups included"
    else
      echo "$c: delay by ${mechanism[$c]:-?}"
    fi
  done
  echo "configurations without a delay have the veths' and bridge's own latency only (ping below)"
  printf '\n%-15s %12s %6s %7s %11s %6s %7s %9s %8s %8s %9s  %s\n' config "prefill t/s" ratio paired "decode t/s" ratio paired \
    "ms/token" "+ms" "compute" "links ms" "ping rtt min/median/max ms"
  local base_p base_d json="" p d ms base_ms
  base_p="$(median <<< "${prefill[loopback]}")"; base_d="$(median <<< "${dec[loopback]}")"
  base_ms="$(awk -v d="$base_d" 'BEGIN { printf "%.3f", 1000 / d }')"
  for c in $configs; do
    p="$(median <<< "${prefill[$c]}")"; d="$(median <<< "${dec[$c]}")"
    ms="$(awk -v d="$d" 'BEGIN { printf "%.3f", 1000 / d }')"
    local lm sm cm
    lm="$(median <<< "${links_ms[$c]}")"; sm="$(median <<< "${step_ms[$c]}")"; cm="$(median <<< "${compute_ms[$c]}")"
    [ -z "$lm" ] || lm="$(awk -v v="$lm" 'BEGIN { printf "%.3f", v }')"
    [ -z "$sm" ] || sm="$(awk -v v="$sm" 'BEGIN { printf "%.3f", v }')"
    [ -z "$cm" ] || cm="$(awk -v v="$cm" 'BEGIN { printf "%.2f", v }')"
    local pp pd
    pp="$(paired_ratio "${prefill[$c]}" "${prefill[loopback]}")"; pd="$(paired_ratio "${dec[$c]}" "${dec[loopback]}")"
    printf '%-15s %12.1f %6s %7s %11.2f %6s %7s %9.3f %+8.3f %8s %9s  %s\n' "$c" "$p" "$(ratio "$p" "$base_p")x" "${pp}x" "$d" \
      "$(ratio "$d" "$base_d")x" "${pd}x" "$ms" "$(awk -v a="$ms" -v b="$base_ms" 'BEGIN { print a - b }')" "${cm:--}" "${lm:--}" "${rtt[$c]}"
    local vs=""
    if [[ "$c" != unshaped ]] && on_bed "$c" && [ -n "${prefill[unshaped]:-}" ]; then
      vs="\"prefill_paired_vs_unshaped\":$(paired_ratio "${prefill[$c]}" "${prefill[unshaped]}"),\"decode_paired_vs_unshaped\":$(paired_ratio "${dec[$c]}" "${dec[unshaped]}"),"
    fi
    json+="${json:+,}{\"config\":\"$c\",\"tls\":$([ -n "${tls[$c]}" ] && echo true || echo false),\"address\":\"${address[$c]}\",\"stages\":\"${plan[$c]}\",\"prefill_tokens_per_s\":$p,\"prefill_ratio\":$(ratio "$p" "$base_p"),\"prefill_paired_ratio\":$pp,\"decode_tokens_per_s\":$d,\"decode_ratio\":$(ratio "$d" "$base_d"),\"decode_paired_ratio\":$pd,\"decode_ms_per_token\":$ms,\"decode_links_ms\":${lm:-null},\"decode_compute_ms\":${cm:-null},$vs\"decode_step_ms\":${sm:-null},\"ping_rtt_ms\":\"${rtt[$c]}\",\"prefill_runs\":[$(tr -s ' ' ',' <<< "${prefill[$c]# }")],\"decode_runs\":[$(tr -s ' ' ',' <<< "${dec[$c]# }")],\"decode_links_ms_runs\":[$(tr -s ' ' ',' <<< "${links_ms[$c]# }")]}"
  done
  echo "ratio: median against loopback's median; paired: median of each round's ratio to loopback's run"
  echo "of the same round; +ms: decode ms per token minus loopback's; compute, links ms: medians over the"
  echo "rounds of the decode step's compute time and its time on the 3 hops (coordinator -> stage 0 ->"
  echo "stage 1 -> coordinator), from pipeshard bench's breakdown of the last decode"
  if [ -n "${prefill[unshaped]:-}" ]; then
    for c in $configs; do
      [[ "$c" != unshaped ]] && on_bed "$c" || continue
      echo "$c against unshaped test-bed hosts (paired): prefill $(paired_ratio "${prefill[$c]}" "${prefill[unshaped]}")x," \
        "decode $(paired_ratio "${dec[$c]}" "${dec[unshaped]}")x"
    done
  fi
  # What each delay cost decode against the same links without it.
  local delays="" base dl lost lost_links nominal measured
  for c in $configs; do
    dl="$(delay_of "$c")"
    [ -n "$dl" ] || continue
    base=loopback
    if [ -n "$(rate_of "$c")" ] && [[ " $configs " = *" $(rate_of "$c") "* ]]; then base="$(rate_of "$c")"
    elif [[ " $configs " = *" unshaped "* ]]; then base=unshaped; fi
    lost="$(paired_ms_diff "${dec[$c]}" "${dec[$base]}")"
    lost_links="$(paired_diff "${links_ms[$c]}" "${links_ms[$base]}")"
    nominal="$(awk -v d="$(delay_ms "$dl")" 'BEGIN { printf "%.3f", 2 * d }')"
    measured="$(awk -v a="${rtt_hh[$c]:-}" -v b="${rtt_hh[$base]:-}" -v e="${rtt_sh[$c]:-}" -v f="${rtt_sh[$base]:-}" \
      'BEGIN { if (a == "" || b == "" || e == "" || f == "") print "-"; else printf "%.3f", (a - b) / 2 + (e - f) }')"
    [ -n "$delays" ] || {
      echo "decode per token against the same links without the delay (paired: median of each round's difference):"
      printf '  %-15s %-10s %10s %10s %14s %14s\n' config against "lost ms" "links ms" "2D nominal" "ping-measured"
    }
    printf '  %-15s %-10s %+10.3f %+10.3f %14s %14s\n' "$c" "$base" "$lost" "$lost_links" "$nominal" "$measured"
    delays+="${delays:+,}{\"config\":\"$c\",\"delay\":\"$dl\",\"mechanism\":\"${mechanism[$c]:-}\",\"against\":\"$base\",\"decode_ms_lost_paired\":$lost,\"decode_links_ms_lost_paired\":$lost_links,\"added_ms_nominal\":$nominal,\"added_ms_ping\":$([ "$measured" = - ] && echo null || echo "$measured")}"
  done
  [ -z "$delays" ] || {
    echo "  lost ms: decode ms per token more than against's; links ms: the same for the step's link time;"
    echo "  2D: what the delay adds per token (coordinator -> stage 0 D/2, stage 0 -> stage 1 D, stage 1 ->"
    echo "  coordinator D/2); ping-measured: half the host-to-host ping median's growth plus switch-to-host's"
  }
  echo "stages (worker, layers):"
  for c in $configs; do echo "  $c: ${plan[$c]}"; done
  json="{\"benchmark\":\"links\",\"commit\":\"$commit\",\"model\":\"$(basename "$model")\",\"prompt_tokens\":$prompt,\"decode_tokens\":$decode,\"rounds\":$rounds,\"delays\":[$delays],\"results\":[$json]}"
  echo "$json" > "$work/links.json"
  echo "$json"
}

# `pipeshard SUBCOMMAND ...` against configuration $1's coordinator: from its test bed's
# namespace, with its CA and API key when it has TLS (the key through the environment).
client() {
  local c="$1"; shift
  local extra=() ns=()
  [ -z "${tls[$c]}" ] || extra=(--ca "${tls[$c]}/ca.pem")
  [ -z "${bed[$c]:-}" ] || ns=(ip netns exec "${bed[$c]}")
  PIPESHARD_API_KEY="${key[$c]}" timeout --kill-after=5 "$timeout" "${ns[@]}" "$bin/pipeshard" "$@" "${extra[@]}"
}

case "$mode" in
  links) links ;;
  tls-frames) tls_frames ;;
esac
