#!/usr/bin/env bash
# Chaos soak of the cluster's failure recovery. Brings up a local cluster (the tiny model, 3
# stages + 2 standby workers, one CPU thread each), then N times: starts S concurrent streams,
# kill -9s a random worker that holds a stage at a random moment (0.05-1.5 s in), waits for the
# coordinator to recover, checks every stream's tokens against a reference computed once in this
# process (`pipeshard run`, same ctx 512 and ubatch 16), and starts a fresh worker in place of the
# dead one. Measures
#   requests   completed (exit 0, tokens equal to the reference), mismatched (exit 0, other
#              tokens: must be 0), failed (grouped by exit code and the first line of stderr;
#              a client that takes over 120 s is killed and counts as "timeout"),
#   kill -> first token  wall time from the kill -9 to the completion of a 1-token greedy
#              `pipeshard generate` started right after it (detection + re-plan + first token),
#   last_recovery_seconds  the recovery time the coordinator itself reports (status --json).
# Prints a summary (and writes it as JSON with --out); exits 1 if any stream mismatched or a
# recovery never came (failed requests alone do not fail the run: they are what it counts).
#
#   bench/chaos_soak.sh [--kills N=50] [--streams S=16] [--tokens T=64] [--bin DIR=build/bin]
#                       [--out FILE.json] [--seed X] [--keep]
# --seed fixes each round's kill delay and which stage index dies (bash's RANDOM; without --seed one
# is picked and printed). Which worker holds that stage depends on the coordinator's choices.
# --keep leaves the temporary directory (logs of every process) in place and prints its path.
# The coordinator gets --max-seqs S+1: one slot more than the streams, so the kill -> first token
# probe is scheduled at once instead of queueing behind the S streams it is measured against.
# Needs only bash, coreutils and python3.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
kills=50
streams=16
tokens=64
bin="$here/build/bin"
out=""
seed=""
keep=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --streams) streams="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "chaos_soak.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for v in kills streams tokens; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "chaos_soak.sh: --$v must be a positive integer" >&2; exit 2; }
done
[ -n "$seed" ] || seed=$(( $(date +%s%N) % 1000000 ))
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "chaos_soak.sh: --seed must be a non-negative integer" >&2; exit 2; }
bin="$(cd "$bin" && pwd)"
for b in pipeshard pipeshard-coordinator pipeshard-worker; do
  [ -x "$bin/$b" ] || { echo "chaos_soak.sh: $bin/$b is missing (build first)" >&2; exit 2; }
done
if [ -n "$out" ]; then
  mkdir -p "$(dirname "$out")"
  out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
fi
RANDOM=$seed

client_timeout=120  # seconds a stream (or the probe) may take before it counts as "timeout"
recovery_timeout=60 # seconds after a kill within which the coordinator must be serving again
join_timeout=30     # seconds a new worker may take to show up healthy in status

# ---- processes and cleanup ------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/chaos-soak.XXXXXX")"
daemon_pids=()   # coordinator and workers: started directly, $! is the process itself
group_pids=()    # clients: started under `timeout`, which leads its own process group
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$? pid
  set +e
  for pid in "${group_pids[@]}"; do kill -9 -- "-$pid" "$pid" 2> /dev/null; done
  for pid in "${daemon_pids[@]}"; do kill -9 "$pid" 2> /dev/null; done
  for pid in "${group_pids[@]}" "${daemon_pids[@]}"; do wait "$pid" 2> /dev/null; done
  cd /
  if [ "$keep" = 1 ]; then echo "chaos_soak.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$tmp"
mkdir refs rounds

# seconds NANOSECONDS: as seconds with 3 decimals
seconds() { printf '%d.%03d' $(($1 / 1000000000)) $(($1 / 1000000 % 1000)); }
# spawn PREFIX CMD...: runs CMD in the background under `timeout`, stdout/stderr to PREFIX.out and
# PREFIX.err, its completion time (date +%s%N) to PREFIX.end; sets spawned to the pid to wait for.
# shellcheck disable=SC2016  # expanded by the inner bash
runner='p=$1; shift; "$@" > "$p.out" 2> "$p.err"; rc=$?; date +%s%N > "$p.end"; exit $rc'
spawn() {
  local prefix="$1"; shift
  timeout -k 5 "$client_timeout" bash -c "$runner" runner "$prefix" "$@" < /dev/null &
  spawned=$!
  group_pids+=("$spawned")
}
# finish PID PREFIX: waits for a spawned client and writes its exit status to PREFIX.rc
# ("timeout" where `timeout` had to stop it).
finish() {
  local rc=0
  wait "$1" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo timeout > "$2.rc"; else echo "$rc" > "$2.rc"; fi
}

declare -A worker_pid=()  # worker name -> pid
next_worker=1
start_worker() {
  local name="w$next_worker"
  next_worker=$((next_worker + 1))
  "$bin/pipeshard-worker" --coordinator "$addr" --listen 127.0.0.1:0 --device cpu --threads 1 \
    --name "$name" > "$name.out" 2> "$name.err" < /dev/null &
  worker_pid[$name]=$!
  daemon_pids+=("$!")
  started_worker="$name"
}

status_json() { "$bin/pipeshard" status --server "$addr" --json --connect-timeout 2 2> /dev/null || true; }
# status_fields: "state recoveries last_recovery_seconds replayed_requests active+queued requests" of a
# status JSON on stdin
status_fields() {
  python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print("unreachable 0 0 0 -1"); sys.exit(0)
print(d.get("state") or "?", int(d.get("recoveries") or 0), float(d.get("last_recovery_seconds") or 0),
      int(d.get("replayed_requests") or 0), int(d.get("active_requests") or 0) + int(d.get("queued_requests") or 0))'
}
# stage_names: "name:index" of every stage of a status JSON on stdin
stage_names() {
  python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
print(" ".join("%s:%s" % (s.get("name", ""), s.get("index", 0)) for s in d.get("stages", [])))'
}
# has_member NAME: whether a status JSON on stdin lists NAME, healthy, as a stage or a standby
has_member() {
  python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(1)
sys.exit(0 if any(w.get("name") == sys.argv[1] and w.get("healthy")
                  for w in d.get("stages", []) + d.get("standbys", [])) else 1)' "$1"
}
# quick_status: sets state and recoveries from one status --json call, without starting python
quick_status() {
  local j
  j="$(status_json)"
  state=unreachable
  recoveries=0
  if [[ "$j" =~ \"state\":\"([a-z_]+)\" ]]; then state="${BASH_REMATCH[1]}"; fi
  if [[ "$j" =~ \"recoveries\":\"?([0-9]+) ]]; then recoveries="${BASH_REMATCH[1]}"; fi
}
log_lines() { grep -Ei 'recover|degraded' coordinator.err || true; }

# ---- model, references, cluster ------------------------------------------------------------
"$bin/pipeshard" make-model "$tmp/tiny.gguf" --preset tiny > /dev/null 2>&1

prompt() { echo "Story number $1: once upon a time"; }
sampling() {
  if [ $(($1 % 2)) = 0 ]; then echo "--temp 0"; else echo "--temp 0.9 --seed $((1000 + $1)) --top-k 20"; fi
}
echo "chaos soak: $kills kills, $streams streams of $tokens tokens, seed $seed, $(nproc) cores"
echo "references: $streams prompts in this process..."
for ((i = 0; i < streams; i++)); do
  # shellcheck disable=SC2046
  "$bin/pipeshard" run --model tiny.gguf --prompt "$(prompt "$i")" -n "$tokens" --ignore-eos --json \
    --threads 1 --ubatch 16 --ctx 512 $(sampling "$i") > "refs/$i.json" 2> "refs/$i.err"
done

"$bin/pipeshard-coordinator" --listen 127.0.0.1:0 --model tiny.gguf --stages 3 --ctx 512 --ubatch 16 \
  --max-seqs $((streams + 1)) --queue 256 > coordinator.out 2> coordinator.err < /dev/null &
coordinator_pid=$!
daemon_pids+=("$coordinator_pid")
addr=""
for ((i = 0; i < 100; i++)); do
  addr="$(sed -n 's/^listening on \([0-9.]*:[0-9]*\).*/\1/p' coordinator.out | head -n 1)"
  [ -z "$addr" ] || break
  kill -0 "$coordinator_pid" 2> /dev/null || break
  sleep 0.1
done
[ -n "$addr" ] || { echo "chaos_soak.sh: the coordinator did not start:" >&2; cat coordinator.err >&2; exit 1; }
for ((i = 0; i < 5; i++)); do start_worker; done
state=""
for ((i = 0; i < 600; i++)); do
  read -r state _ <<< "$(status_json | status_fields)"
  [ "$state" != serving ] || break
  sleep 0.1
done
[ "$state" = serving ] || { echo "chaos_soak.sh: the cluster is not serving after 60 s (state $state):" >&2; tail -n 20 coordinator.err >&2; exit 1; }
echo "cluster serving at $addr: coordinator + 5 workers (3 stages, 2 standbys)"

# ---- the rounds ------------------------------------------------------------------------------
evaluate='
import json, os, re, sys
rdir, refs, n, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
kill_ns = int(sys.argv[5])
with open(os.path.join(rdir, "clients.jsonl"), "w") as f:
    for i in range(n):
        p = os.path.join(rdir, "c%d" % i)
        read = lambda ext: open(p + ext, errors="replace").read() if os.path.exists(p + ext) else ""
        rc = read(".rc").strip()
        err = read(".err").strip().splitlines()
        end = read(".end").strip()
        rec = {"round": rnd, "client": i, "rc": rc, "stderr": err[0] if err else "",
               "running_at_kill": (not end) or int(end) > kill_ns}
        if rc == "0":
            try:
                got = json.loads(read(".out"))["tokens"]
            except Exception:
                got = None
            ref = json.load(open(os.path.join(refs, "%d.json" % i)))["tokens"]
            if got is None:
                rec.update(result="failed", reason="exit 0: unparseable output")
            elif got == ref:
                rec.update(result="completed")
            else:
                first = next((k for k in range(min(len(got), len(ref))) if got[k] != ref[k]), min(len(got), len(ref)))
                rec.update(result="mismatched", first_difference=first, got_len=len(got), ref_len=len(ref))
        else:
            msg = re.sub(r"\d+(\.\d+)?", "N", rec["stderr"])[:80] if rec["stderr"] else "(no stderr)"
            rec.update(result="failed", reason="timeout" if rc == "timeout" else "exit %s: %s" % (rc or "?", msg))
        f.write(json.dumps(rec) + "\n")
r = [json.loads(l) for l in open(os.path.join(rdir, "clients.jsonl"))]
print(sum(x["result"] == "completed" for x in r), sum(x["result"] == "failed" for x in r),
      sum(x["result"] == "mismatched" for x in r), sum(x["running_at_kill"] for x in r))
'
record_round='
import json, sys
keys = ["round", "victim", "stage", "delay_s", "kill_after_s", "active_requests_at_kill", "running_at_kill", "recovered", "recovery_wait_s",
        "kill_to_first_token_s", "probe_rc", "last_recovery_seconds", "recoveries", "replayed_this_round",
        "completed", "failed", "mismatched"]
d = dict(zip(keys, sys.argv[1:]))
for k in ["round", "stage", "active_requests_at_kill", "running_at_kill", "recoveries", "replayed_this_round", "completed", "failed", "mismatched"]:
    d[k] = int(d[k])
for k in ["delay_s", "kill_after_s", "recovery_wait_s", "kill_to_first_token_s", "last_recovery_seconds"]:
    d[k] = float(d[k]) if d[k] not in ("", "none") else None
d["recovered"] = d["recovered"] == "1"
print(json.dumps(d))
'
recovery_failed=0
for ((r = 1; r <= kills; r++)); do
  rdir="rounds/$r"
  mkdir -p "$rdir"
  # The stage holders, read before the streams start: they change only through a recovery, and
  # the kill below is what causes this round's (reading status after the sleep would delay the kill
  # by a status call and a python start, half a second on a busy machine).
  status_now="$(status_json)"
  read -r _ recoveries_before _ replayed_before _ <<< "$(status_fields <<< "$status_now")"
  read -r -a members <<< "$(stage_names <<< "$status_now")"
  candidates=()
  for m in "${members[@]}"; do
    name="${m%:*}"
    if [ -n "${worker_pid[$name]:-}" ]; then candidates+=("$m"); fi
  done
  if [ ${#candidates[@]} = 0 ]; then
    echo "round $r: no live stage worker of this script in status (stages: ${members[*]:-none}); stopping" >&2
    recovery_failed=1
    break
  fi
  victim="${candidates[$((RANDOM % ${#candidates[@]}))]}"
  vname="${victim%:*}"
  vstage="${victim##*:}"
  vpid="${worker_pid[$vname]}"
  ms=$((50 + RANDOM % 1451))
  delay="$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"

  pids=()
  start_ns=$(date +%s%N)
  for ((i = 0; i < streams; i++)); do
    # shellcheck disable=SC2046
    spawn "$rdir/c$i" "$bin/pipeshard" generate --server "$addr" --prompt "$(prompt "$i")" -n "$tokens" \
      --ignore-eos --json $(sampling "$i")
    pids+=("$spawned")
  done
  sleep "$delay"

  # What the coordinator is doing at the kill (requests active or queued), read alongside it.
  "$bin/pipeshard" status --server "$addr" --json --connect-timeout 2 > "$rdir/at_kill.json" 2> /dev/null &
  at_kill_pid=$!
  daemon_pids+=("$at_kill_pid")
  disown "$vpid"  # bash would print "Killed" for it otherwise; it still reaps it
  kill -9 "$vpid"
  kill_ns=$(date +%s%N)
  spawn "$rdir/probe" "$bin/pipeshard" generate --server "$addr" --prompt "$(prompt 0)" -n 1 --temp 0 --json
  probe_pid=$spawned
  unset "worker_pid[$vname]"
  kill_after=$(seconds $((kill_ns - start_ns)))

  # Poll until the coordinator serves again with one more recovery (bash only: this loop is timed).
  recovered=0
  deadline_ns=$((kill_ns + recovery_timeout * 1000000000))
  while :; do
    quick_status
    if [ "$state" = serving ] && [ "$recoveries" -gt "$recoveries_before" ]; then recovered=1; break; fi
    [ "$(date +%s%N)" -lt "$deadline_ns" ] || break
    sleep 0.1
  done
  recovery_wait=$(seconds $(($(date +%s%N) - kill_ns)))

  for ((i = 0; i < streams; i++)); do finish "${pids[$i]}" "$rdir/c$i"; done
  finish "$probe_pid" "$rdir/probe"
  wait "$at_kill_pid" 2> /dev/null || true
  read -r _ _ _ _ active_at_kill <<< "$(status_fields < "$rdir/at_kill.json")"
  probe_rc="$(cat "$rdir/probe.rc")"
  kftt=none
  if [ "$probe_rc" = 0 ] && [ -s "$rdir/probe.end" ]; then
    kftt=$(seconds $(($(cat "$rdir/probe.end") - kill_ns)))
  fi
  # The coordinator's figures after the streams are done (a second recovery may have happened).
  read -r _ recoveries last_rec replayed _ <<< "$(status_json | status_fields)"
  read -r completed failed mismatched in_flight <<< \
    "$(python3 -c "$evaluate" "$rdir" refs "$streams" "$r" "$kill_ns")"
  cat "$rdir/clients.jsonl" >> clients.jsonl
  python3 -c "$record_round" "$r" "$vname" "$vstage" "$delay" "$kill_after" "$active_at_kill" "$in_flight" "$recovered" "$recovery_wait" \
    "$kftt" "$probe_rc" "$([ "$recovered" = 1 ] && echo "$last_rec" || echo none)" "$recoveries" "$((replayed - replayed_before))" \
    "$completed" "$failed" "$mismatched" >> rounds.jsonl
  printf 'round %d/%d: killed %s (stage %s) %ss after the streams started, %d/%d clients running, %d requests active; ' \
    "$r" "$kills" "$vname" "$vstage" "$kill_after" "$in_flight" "$streams" "$active_at_kill"
  if [ "$recovered" = 1 ]; then
    printf 'serving again after %ss (coordinator: %ss, recovery #%d, %d replayed); kill->first token %s; ' \
      "$recovery_wait" "$last_rec" "$recoveries" "$((replayed - replayed_before))" "$([ "$kftt" = none ] && echo "none (probe $probe_rc)" || echo "${kftt}s")"
  else
    printf 'NO RECOVERY within %ds (state %s); ' "$recovery_timeout" "$state"
  fi
  printf '%d completed, %d failed, %d mismatched\n' "$completed" "$failed" "$mismatched"
  if [ "$recovered" != 1 ]; then
    recovery_failed=1
    echo "coordinator log (recovery/degraded lines):" >&2
    log_lines | sed 's/^/  /' >&2
    break
  fi

  # A fresh worker in the dead one's place, so there is always a standby to take the next stage.
  [ "$r" -lt "$kills" ] || break
  start_worker
  for ((i = 0; i < join_timeout * 10; i++)); do
    if status_json | has_member "$started_worker"; then break; fi
    sleep 0.1
  done
  status_json | has_member "$started_worker" || echo "round $r: replacement worker $started_worker did not join within ${join_timeout}s" >&2
done

# ---- summary ---------------------------------------------------------------------------------
[ -f clients.jsonl ] || : > clients.jsonl
[ -f rounds.jsonl ] || : > rounds.jsonl
summary='
import json, re, statistics, sys
rounds = [json.loads(l) for l in open("rounds.jsonl")]
clients = [json.loads(l) for l in open("clients.jsonl")]
kills, streams, tokens, seed, out, recovery_failed, final_replayed = sys.argv[1:8]
final_replayed = int(final_replayed)
# How each failure was noticed: the reason in the coordinator log lines "recovery N (epoch a -> b): stage
# i (name, address) REASON; ..." lines, numbers blanked.
detected = {}
for line in open("coordinator.err", errors="replace"):
    m = re.search(r"recovery \d+ \(epoch \d+ -> \d+\): stage \d+ \([^)]*\) ([^;]*);", line)
    if m:
        why = re.sub(r"ipv4:[0-9.:]+", "ADDR", m.group(1))
        why = re.sub(r"\d+(\.\d+)?", "N", why)
        detected[why] = detected.get(why, 0) + 1
by_reason = {}
examples = {}
for c in clients:
    if c["result"] == "failed":
        by_reason[c["reason"]] = by_reason.get(c["reason"], 0) + 1
        examples.setdefault(c["reason"], "round %d client %d: rc %s, stderr: %s" % (c["round"], c["client"], c["rc"], c["stderr"] or "(none)"))
def stats(xs):
    xs = [x for x in xs if x is not None]
    return {"n": len(xs), "median": statistics.median(xs) if xs else None, "worst": max(xs) if xs else None}
mism = [c for c in clients if c["result"] == "mismatched"]
s = {
    "kills_requested": int(kills), "kills": len(rounds), "streams": int(streams), "tokens": int(tokens), "seed": int(seed),
    "requests": len(clients),
    "completed": sum(c["result"] == "completed" for c in clients),
    "failed": sum(c["result"] == "failed" for c in clients),
    "failed_by_reason": dict(sorted(by_reason.items(), key=lambda kv: -kv[1])),
    "failed_examples": examples,
    "mismatched": len(mism),
    "mismatched_requests": [{k: c[k] for k in ("round", "client", "first_difference", "got_len", "ref_len")} for c in mism],
    "running_at_kill": sum(c["running_at_kill"] for c in clients),
    "recovery_timeouts": sum(not r["recovered"] for r in rounds) + (1 if recovery_failed == "1" and all(r["recovered"] for r in rounds) else 0),
    "probe_failures": sum(r["probe_rc"] != "0" for r in rounds),
    "kill_to_first_token_seconds": stats([r["kill_to_first_token_s"] for r in rounds]),
    "last_recovery_seconds": stats([r["last_recovery_seconds"] for r in rounds]),
    "recovery_wait_seconds": stats([r["recovery_wait_s"] for r in rounds]),
    "detected_by": detected,
    "final_recoveries": rounds[-1]["recoveries"] if rounds else 0,
    "final_replayed_requests": final_replayed,
    "rounds": rounds,
}
f = lambda v: "-" if v is None else "%.3f s" % v
print()
print("chaos soak summary (seed %d, %d streams x %d tokens)" % (s["seed"], s["streams"], s["tokens"]))
print("  kills                  %d of %d" % (s["kills"], s["kills_requested"]))
print("  requests               %d (%d of the clients were still running at their round\x27s kill)" % (s["requests"], s["running_at_kill"]))
print("  completed              %d" % s["completed"])
print("  failed                 %d" % s["failed"])
for k, v in s["failed_by_reason"].items():
    print("    %5d  %s" % (v, k))
    print("           e.g. %s" % examples[k])
print("  mismatched             %d%s" % (s["mismatched"], "   <-- MUST BE 0" if s["mismatched"] else ""))
for m in s["mismatched_requests"]:
    print("           round %(round)d client %(client)d: first difference at token %(first_difference)d (%(got_len)d tokens, reference %(ref_len)d)" % m)
k, l, w = s["kill_to_first_token_seconds"], s["last_recovery_seconds"], s["recovery_wait_seconds"]
print("  kill -> first token    median %s, worst %s (%d probes, %d failed)" % (f(k["median"]), f(k["worst"]), k["n"], s["probe_failures"]))
print("  last_recovery_seconds  median %s, worst %s (as the coordinator reports it)" % (f(l["median"]), f(l["worst"])))
print("  kill -> serving again  median %s, worst %s (status polled every 0.1 s)" % (f(w["median"]), f(w["worst"])))
print("  recoveries             %d, %d requests replayed (coordinator totals)" % (s["final_recoveries"], s["final_replayed_requests"]))
print("  active at the kill     %d requests over %d kills (active + queued in status at the kill)" % (
    sum(r["active_requests_at_kill"] for r in rounds), len(rounds)))
print("  failures detected by")
for k, v in sorted(detected.items(), key=lambda kv: -kv[1]):
    print("    %5d  %s" % (v, k))
if s["recovery_timeouts"]:
    print("  recovery timeouts      %d   <-- the cluster did not come back" % s["recovery_timeouts"])
if out:
    with open(out, "w") as fh:
        json.dump(s, fh, indent=2)
        fh.write("\n")
    print("  json                   %s" % out)
sys.exit(1 if s["mismatched"] or s["recovery_timeouts"] else 0)
'
rc=0
read -r _ _ _ final_replayed _ <<< "$(status_json | status_fields)"
python3 -c "$summary" "$kills" "$streams" "$tokens" "$seed" "$out" "$recovery_failed" "$final_replayed" || rc=$?
if [ "$rc" != 0 ] || grep -q '"result": "failed"' clients.jsonl; then
  echo
  echo "coordinator log (recovery/degraded lines):"
  log_lines | sed 's/^/  /'
fi
exit "$rc"
