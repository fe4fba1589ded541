#!/usr/bin/env bash
# The README's quick start, run as written: the lines between its quick-start markers, with a
# model made by `pipeshard make-model --preset tiny` standing in for the download (the only
# line replaced; the model path and the cluster's folder move to a temporary folder). Checks
# what the README says to expect: gguf-info's verdict, `generate` printing `run`'s text, and a
# status row per stage with stage i on worker wi. Fails when the README's lines change so that
# the replacements no longer apply.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
tmp="$(mktemp -d)"
cleanup() {
  bash "$here/deploy/cluster.sh" down --run-dir "$tmp/quick" > /dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

block="$(sed -n '/^<!-- quick-start/,/^<!-- \/quick-start -->/p' "$here/README.md" | grep -v '^<!--' | grep -v '^```')"
[ -n "$block" ] || { echo "FAIL: no quick-start block in README.md" >&2; exit 1; }
replace() {  # replace PATTERN WITH: exactly one line must match
  local count
  count="$(grep -c -- "$1" <<< "$block" || true)"
  [ "$count" = 1 ] || { echo "FAIL: the quick start has $count lines matching '$1' (want 1)" >&2; exit 1; }
  block="$(awk -v p="$1" -v w="$2" 'index($0, p) == 1 { print w; next } { print }' <<< "$block")"
}
replace 'export PATH=' "export PATH=\"$bin:\$PATH\""
replace 'MODEL=' "MODEL=\"$tmp/model.gguf\""
replace 'curl ' 'pipeshard make-model "$MODEL" --preset tiny > /dev/null'
block="${block//run\/quick/$tmp/quick}"
echo "$block" > "$tmp/quick_start.sh"

cd "$here"
out="$(PIPESHARD_BIN="$bin" bash -euo pipefail "$tmp/quick_start.sh" 2> "$tmp/stderr")" || {
  echo "FAIL: the quick start failed:" >&2; cat "$tmp/quick_start.sh" "$tmp/stderr" >&2; exit 1; }

fail() { echo "FAIL: $1" >&2; echo "--- stdout:" >&2; echo "$out" >&2; echo "--- stderr:" >&2; cat "$tmp/stderr" >&2; exit 1; }
grep -q '^supported: ' <<< "$out" || fail "gguf-info did not end with 'supported: ...'"
grep -q '^prompt: [0-9]* tokens, .* tok/s; generation: 16 tokens' "$tmp/stderr" || fail "run's speed line is missing"
# run and generate print the same continuation (the first two non-empty text outputs after
# gguf-info's line; generate may print its summary on stderr).
run_text="$(PIPESHARD_BIN="$bin" "$bin/pipeshard" run --model "$tmp/model.gguf" --prompt "The capital of France is" -n 16 --temp 0 2> /dev/null)"
[ -n "$run_text" ] || fail "run printed nothing"
[ "$(grep -cF -- "$run_text" <<< "$out")" -ge 2 ] || fail "generate did not print run's text: '$run_text'"
grep -Eq '^0 +w0 ' <<< "$out" || fail "status has no 'stage 0 on w0' row"
grep -Eq '^1 +w1 ' <<< "$out" || fail "status has no 'stage 1 on w1' row"
echo "quick start: ok"
