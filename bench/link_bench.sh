#!/usr/bin/env bash
# What links between hosts cost the pipeline, and what mutual TLS costs a hop.
usage() {
  cat <<'EOF'
usage: bench/link_bench.sh [links] [--rounds R] [--prompt-tokens P] [--decode N] [--model M]
                           [--configs "loopback unshaped 10gbit 1gbit loopback-plain"] [--timeout S]
       bench/link_bench.sh tls-frames [--rounds R] [--runs K] [--cols C] [--rows "1 128 512"]

links (default): S=2 clusters of one-thread CPU workers, all with mutual TLS and an API key
(deploy/cluster.sh --tls-dir), all up at once, the runs alternating between them round after
round (the first cluster of a round rotates); medians over the rounds. Configurations:
  loopback        both workers and the coordinator on 127.0.0.1 (cluster.sh up --workers 2)
  10gbit, 1gbit   two test-bed hosts (deploy/testbed.sh up 2 --rate R: network namespaces with
                  their own sshd, every link shaped with tbf), one worker on each, started over
                  ssh (cluster.sh --hosts), the coordinator on the test bed's switch
  unshaped        the same on two test-bed hosts without --rate: what the rates cost is measured
                  against it too, between clusters started the same way
  loopback-plain  as loopback without TLS and API keys (what TLS costs a whole cluster)
Each round and configuration runs `pipeshard bench --server ADDR -p P -n N -r 1 --json` (one
P-token prefill, one N-token single-stream decode). The table gives prefill and decode tokens/s
with their ratios against loopback (of the medians, and paired: each round against loopback's
run of that round), decode ms per token with the step's compute and link parts, and the ping
round trip between the hosts; JSON follows the table and goes to run/bench/link/links.json.
A cluster whose layer split differs from the first one's is started again (a slow speed probe
on a busy machine moves layers); one lost mid-run is restarted, twice at most. Link latency is NOT
emulated where the kernel lacks tc netem (sch_netem): the test-bed links then have only the
rate limit and the veths' own latency, which the ping measures. Needs root, iproute2 (tc with
tbf), openssh-server; the machine should have 3 free cores (two workers and the client).

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
declare -A run_dir=() tls=() bed=() bed_dir=() address=() key=() plan=() rtt=()

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# a / b with 2 decimals ("-" when b is 0 or missing)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
# The median over rounds of list $1 / list $2, element by element (the same round's runs): runs
# close in time share the machine's load, which a ratio of medians does not cancel.
paired_ratio() {
  paste -d ' ' <(tr ' ' '\n' <<< "$1" | grep -v '^$') <(tr ' ' '\n' <<< "$2" | grep -v '^$') |
    awk '$2 > 0 { print $1 / $2 }' | median | awk '{ printf "%.2f", $1 }'
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
    case "$c" in loopback|loopback-plain|unshaped|*bit) ;; *) die "--configs: unknown configuration '$c' (loopback, loopback-plain, unshaped, or a rate such as 10gbit)" ;; esac
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
    if [[ "$c" = *bit || "$c" = unshaped ]]; then
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

  # Round trip of 20 pings from namespace $1 ("": this one) to $2, in ms: "min/avg/max".
  ping_rtt() {
    local out ns=()
    [ -z "$1" ] || ns=(ip netns exec "$1")
    command -v ping > /dev/null || { echo "(no ping: apt-get install iputils-ping)"; return 0; }
    out="$(timeout 30 "${ns[@]}" ping -n -q -c 20 -i 0.05 -W 2 "$2" 2>&1)" || { echo "(ping failed)"; return 0; }
    sed -n 's|.*= \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|\1/\2/\3|p' <<< "$out"
  }

  # Does this kernel have netem? Asked in a namespace of its own, never on this machine's links.
  local netem=no probe="psLBprobe$$"
  if timeout 10 ip netns add "$probe" 2> /dev/null; then
    ! timeout 10 ip netns exec "$probe" tc qdisc add dev lo root netem delay 1ms > /dev/null 2>&1 || netem=yes
    timeout 10 ip netns del "$probe" || true
  fi

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
      [ "$c" = unshaped ] || shaping=(--rate "$c")
      timeout $((timeout + 30)) bash "$here/deploy/testbed.sh" up 2 --name "${bed[$c]}" --dir "${bed_dir[$c]}" \
        --subnet "10.$((77 + ${bed[$c]#psLB})).0" "${shaping[@]}" --timeout 60 > /dev/null
      local h1 h2
      h1="$(sed -n 1p "${bed_dir[$c]}/hosts" | cut -d' ' -f1)"; h2="$(sed -n 2p "${bed_dir[$c]}/hosts" | cut -d' ' -f1)"
      rtt[$c]="$(ping_rtt "${bed[$c]}-h1" "$h2") host to host, $(ping_rtt "${bed[$c]}" "$h1") switch to host"
    else
      timeout 60 bash "$here/deploy/cluster.sh" down --run-dir "${run_dir[$c]}" > /dev/null 2>&1 || true
      rtt[$c]="$(ping_rtt "" 127.0.0.1) loopback"
    fi
    bring_up "$c"
    echo "  $c: ${address[$c]}, stages ${plan[$c]}, ping rtt min/avg/max ms ${rtt[$c]}" >&2
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
  if [ $netem = no ]; then
    echo "NOTE: link latency is not emulated: this kernel has no tc netem (sch_netem); the test-bed links"
    echo "      are only rate-limited (tbf), with the veths' own latency (ping below)"
  fi
  printf '\n%-15s %12s %6s %7s %11s %6s %7s %9s %8s %8s %9s  %s\n' config "prefill t/s" ratio paired "decode t/s" ratio paired \
    "ms/token" "+ms" "compute" "links ms" "ping rtt min/avg/max ms"
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
    if [[ "$c" = *bit && -n "${prefill[unshaped]:-}" ]]; then
      vs="\"prefill_paired_vs_unshaped\":$(paired_ratio "${prefill[$c]}" "${prefill[unshaped]}"),\"decode_paired_vs_unshaped\":$(paired_ratio "${dec[$c]}" "${dec[unshaped]}"),"
    fi
    json+="${json:+,}{\"config\":\"$c\",\"tls\":$([ -n "${tls[$c]}" ] && echo true || echo false),\"address\":\"${address[$c]}\",\"stages\":\"${plan[$c]}\",\"prefill_tokens_per_s\":$p,\"prefill_ratio\":$(ratio "$p" "$base_p"),\"prefill_paired_ratio\":$pp,\"decode_tokens_per_s\":$d,\"decode_ratio\":$(ratio "$d" "$base_d"),\"decode_paired_ratio\":$pd,\"decode_ms_per_token\":$ms,\"decode_links_ms\":${lm:-null},\"decode_compute_ms\":${cm:-null},$vs\"decode_step_ms\":${sm:-null},\"ping_rtt_ms\":\"${rtt[$c]}\",\"prefill_runs\":[$(tr -s ' ' ',' <<< "${prefill[$c]# }")],\"decode_runs\":[$(tr -s ' ' ',' <<< "${dec[$c]# }")]}"
  done
  echo "ratio: median against loopback's median; paired: median of each round's ratio to loopback's run"
  echo "of the same round; +ms: decode ms per token minus loopback's; compute, links ms: medians over the"
  echo "rounds of the decode step's compute time and its time on the 3 hops (coordinator -> stage 0 ->"
  echo "stage 1 -> coordinator), from pipeshard bench's breakdown of the last decode"
  if [ -n "${prefill[unshaped]:-}" ]; then
    for c in $configs; do
      [[ "$c" = *bit ]] || continue
      echo "$c against unshaped test-bed hosts (paired): prefill $(paired_ratio "${prefill[$c]}" "${prefill[unshaped]}")x," \
        "decode $(paired_ratio "${dec[$c]}" "${dec[unshaped]}")x"
    done
  fi
  echo "stages (worker, layers):"
  for c in $configs; do echo "  $c: ${plan[$c]}"; done
  json="{\"benchmark\":\"links\",\"commit\":\"$commit\",\"model\":\"$(basename "$model")\",\"prompt_tokens\":$prompt,\"decode_tokens\":$decode,\"rounds\":$rounds,\"netem\":$([ $netem = yes ] && echo true || echo false),\"results\":[$json]}"
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
