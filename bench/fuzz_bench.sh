#!/usr/bin/env bash
# Long run of every libFuzzer target (fuzz/): each runs until 10 million executions or a time cap,
# whichever comes first, on the seeds plus the corpus earlier runs grew in build-fuzz/. Prints a
# table of executions, seconds, executions per second and the result (clean, or the failure and
# the input kept), the commit and the machine, for docs/benchmarks.md ("Fuzzing"). Exits 1 if any
# target found a crash, a sanitizer error or a violated property; 77 without clang/libFuzzer.
#
#   bench/fuzz_bench.sh [--runs N=10000000] [--max-seconds S=600] [--fresh] [--only NAME]...
#
# --fresh starts from the seeds alone (deletes build-fuzz/fuzz-corpus first), so the run does not
# depend on what earlier runs found. --only NAME (repeatable): just these targets.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runs=10000000
max_seconds=600
fresh=0
only=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --max-seconds) max_seconds="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    --only) only+=("$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

[ "$fresh" = 1 ] && rm -rf "$here/build-fuzz/fuzz-corpus"
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
rc=0
if ((${#only[@]})); then
  for name in "${only[@]}"; do
    bash "$here/fuzz/run_fuzzers.sh" --runs "$runs" --seconds "$max_seconds" --summary "$summary" --only "$name" || rc=$?
    [ "$rc" = 77 ] && exit 77
  done
else
  bash "$here/fuzz/run_fuzzers.sh" --runs "$runs" --seconds "$max_seconds" --summary "$summary" || rc=$?
  [ "$rc" = 77 ] && exit 77
fi

commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$here" status --porcelain 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "commit $commit$dirty; $(nproc) CPUs: $cpu; limit $runs executions or $max_seconds s per target"
echo "| target | executions | seconds | exec/s | result |"
echo "|---|---:|---:|---:|---|"
while read -r name executed seconds per_s code; do
  result=clean
  if [ "$code" != 0 ]; then
    result="FAILED (exit $code; see build-fuzz/fuzz-logs/$name.log)"
  elif [ "$executed" -lt "$runs" ]; then
    result="clean (stopped at the $max_seconds s cap)"
  fi
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$executed" "$seconds" "$per_s" "$result"
done <"$summary"
exit "$rc"
