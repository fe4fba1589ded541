#!/usr/bin/env bash
# The coordinator's OpenAI HTTP API (--http-listen) against clients pipeshard did not write: the
# official `openai` npm package (tests/integration/openai_client.js) and curl, on real clusters of a
# coordinator and CPU workers on 127.0.0.1 (port 0 everywhere). Greedy and seeded answers must be
# `pipeshard run`'s text exactly (run --ubatch at the cluster's prompt chunk).
#   cluster A: 1 stage, API keys. /health 503 before a worker registers; the openai client (whole,
#     streamed, stop, chat, 400 naming top_p, 401 for a wrong key, 413); curl: 401, 404, 405, 413 at
#     the body limit (2 x max prompt bytes + 64 KiB, found by sending 4 MB), keep-alive, and three
#     clients hanging up mid-generation: each must be cancelled and the next greedy answer exact.
#   cluster B: 2 stages, --queue 0 --max-seqs 1: the openai client's checks again, one request at a
#     time; a request ended by a stop string, then the next on its connection, must both be served;
#     beside a long stream a second request, streamed or not, must get HTTP 429; after the long
#     stream hangs up the cluster serves again.
# Every failed check is listed at the end (exit 1); one failure does not hide the others. Exits 77
# (skipped) without node + the openai package ($PIPESHARD_NODE_MODULES, else ./node_modules),
# after running the curl checks when curl is there; without curl only its checks are skipped.
# Every wait has a deadline; a trap stops everything it started.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${PIPESHARD_BIN:-$here/build/bin}"
modules="${PIPESHARD_NODE_MODULES:-$here/node_modules}"
client_js="$here/tests/integration/openai_client.js"
start=$SECONDS

skip() { echo "SKIPPED: $*"; exit 77; }
die() { echo "FAILED: $*" >&2; exit 1; }  # the setup broke: nothing after it could be trusted
cluster=""  # the cluster running now (A or B)
step() {
  # A coordinator that died since the last step ends the test, saying how (a signal, a status).
  [ -z "$cluster" ] || ! coordinator_gone "$cluster" || die "cluster $cluster: $gone_why"
  echo "== $* ($((SECONDS - start)) s)"
}
failures=()
pass() { echo "   ok: $1"; }
bad() { echo "   FAIL: $1: $2" >&2; failures+=("$1: $2"); }

for program in pipeshard pipeshard-coordinator pipeshard-worker; do
  [ -x "$bin/$program" ] || die "$bin/$program not found (build first)"
done
have_curl=0; command -v curl > /dev/null && have_curl=1
have_openai=0; why_no_openai=""
if ! command -v node > /dev/null; then
  why_no_openai="node is not installed"
elif [ ! -f "$modules/openai/package.json" ]; then
  why_no_openai="the openai npm package is not in $modules (npm ci; or set PIPESHARD_NODE_MODULES)"
else
  have_openai=1
fi
[ $have_curl = 1 ] || [ $have_openai = 1 ] || skip "neither curl nor node with the openai package: $why_no_openai"
[ $have_curl = 1 ] || echo "note: curl is not installed; its checks are skipped"
[ $have_openai = 1 ] || echo "note: the openai client checks are skipped: $why_no_openai"

tmp="$(mktemp -d /tmp/pipeshard-openai-test.XXXXXX)"
life=300  # seconds any process started here may live (CTest's TIMEOUT for this test)
pids=()  # everything started here, stopped by the trap

stop_pids() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for _ in $(seq 50); do  # 5 s for a clean exit, then SIGKILL
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
    [ $alive = 1 ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2> /dev/null || true; done
  pids=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ $rc != 0 ] && [ $rc != 77 ]; then
    for log in "$tmp"/*/*.log; do [ -f "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }; done
  fi
  stop_pids
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The HTTP status of GET $1 (000 when nothing answers), by curl or else node.
get_code() {
  if [ $have_curl = 1 ]; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true
  else
    timeout 10 node -e 'fetch(process.argv[1]).then(r => process.stdout.write(String(r.status)),
                        () => process.stdout.write("000"))' "$1" || echo 000
  fi
}

# start_cluster NAME STAGES COORDINATOR-ARGS...: sets G (gRPC) and H (http://HOST:PORT).
start_cluster() {
  local name="$1" stages="$2"; shift 2
  mkdir -p "$tmp/$name"
  local log="$tmp/$name/coordinator.log"
  # Under `timeout`, which passes the trap's SIGTERM on: should this script be killed without its
  # trap (SIGKILL, e.g. CTest's timeout), nothing it started outlives CTest's limit by much.
  timeout -k 5 "$life" "$bin/pipeshard-coordinator" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --model "$model" \
    --stages "$stages" "$@" > "$log" 2>&1 &
  coordinator_pid=$!
  pids+=($coordinator_pid)
  G=""; H=""
  for _ in $(seq 300); do  # 30 s
    G="$(sed -n 's/^listening on //p' "$log")"
    H="$(sed -n 's/^http listening on //p' "$log")"
    [ -z "$G" ] || [ -z "$H" ] || break
    kill -0 $coordinator_pid 2> /dev/null || die "the coordinator ($*) exited: $(cat "$log")"
    sleep 0.1
  done
  [ -n "$G" ] && [ -n "$H" ] || die "the coordinator printed no addresses within 30 s: $(cat "$log")"
  H="http://$H"
  # Before any worker registers the cluster cannot serve: /health and generation say 503.
  local code
  code="$(get_code "$H/health")"
  [ "$code" = 503 ] && pass "$name: /health 503 before a worker registers" ||
    bad "$name: /health before a worker registers" "want 503, got $code"
  if [ $have_curl = 1 ]; then
    code="$(curl -s -o "$tmp/$name/early.json" -w '%{http_code}' --max-time 10 "${auth[@]}" "$H/v1/completions" \
            -d '{"prompt":"x","max_tokens":1}' || true)"
    [ "$code" = 503 ] && pass "$name: completion 503 before a worker registers" ||
      bad "$name: completion before a worker registers" "want 503, got $code: $(cat "$tmp/$name/early.json")"
  fi
  local i
  for ((i = 0; i < stages; i++)); do
    timeout -k 5 "$life" "$bin/pipeshard-worker" --coordinator "$G" --listen 127.0.0.1:0 --device cpu --threads 1 \
      --name "w$i" > "$tmp/$name/worker$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 600); do  # 60 s
    [ "$(get_code "$H/health")" = 200 ] && return 0
    kill -0 $coordinator_pid 2> /dev/null || die "the coordinator exited: $(cat "$log")"
    sleep 0.1
  done
  die "$name: /health did not answer 200 within 60 s of starting $stages worker(s)"
}

# Says how the coordinator ended, when it has (wait gives the status: 128 + N for signal N).
# Sets gone_why. Not in a $(...): only this shell can wait for its child.
coordinator_gone() {
  kill -0 $coordinator_pid 2> /dev/null && return 1
  local rc=0
  wait $coordinator_pid 2> /dev/null || rc=$?
  gone_why="the coordinator has exited (status $rc): $(tail -n 20 "$tmp/$1/coordinator.log")"
}

# A field of `pipeshard status --json` (numbers, quoted or not).
status_number() {
  timeout 10 "$bin/pipeshard" status --server "$G" "${key_option[@]}" --json |
    grep -oE "\"$1\": *\"?[0-9]+" | grep -oE '[0-9]+$'
}
wait_idle() {  # until no request runs: a hung-up client's request must be cancelled
  local active="" until=$((SECONDS + 15))
  while [ $SECONDS -lt $until ]; do
    active="$(status_number active_requests || true)"
    [ "$active" != 0 ] || return 0
    ! coordinator_gone "$cluster" || die "cluster $cluster: $gone_why"
    sleep 0.1
  done
  return 1
}

# The first "text" string of a JSON answer, as written (escapes kept): `run --json` and the
# server both print with nlohmann::json, so equal texts give equal literals.
json_text() { LC_ALL=C grep -oE '"text":"([^"\\]|\\.)*"' | head -n 1; }

# A greedy completion through curl must be run's text ($1: the label).
greedy_by_curl() {
  local out="$tmp/greedy.json" code
  code="$(curl -s -o "$out" -w '%{http_code}' --max-time 60 "${auth[@]}" "$H/v1/completions" \
          -d "{\"prompt\":\"$prompt\",\"max_tokens\":$n,\"temperature\":0}" || true)"
  if [ "$code" = 200 ] && [ "$(json_text < "$out")" = "$(json_text <<< "$greedy")" ]; then
    pass "$1"
  else
    bad "$1" "want 200 with run's text $(json_text <<< "$greedy"), got $code: $(head -c 600 "$out")"
  fi
}

# The expected answers: `pipeshard run` cut at the cluster's prompt chunk (reported by generate).
expectations() {
  local answer
  answer="$(timeout 60 "$bin/pipeshard" generate --server "$G" "${key_option[@]}" --prompt "$prompt" -n $n --temp 0 \
             --json --timeout 50)" || die "generate failed: $answer"
  chunk="$(grep -oE '"prompt_chunk": *[0-9]+' <<< "$answer" | grep -oE '[0-9]+$')" || die "no prompt_chunk in $answer"
  greedy="$(timeout 60 "$bin/pipeshard" run --model "$model" --prompt "$prompt" -n $n --temp 0 --ubatch "$chunk" --json)"
  seeded="$(timeout 60 "$bin/pipeshard" run --model "$model" --prompt "$prompt" -n $n --temp 0.8 --seed 42 \
            --ubatch "$chunk" --json)"
  penalized="$(timeout 60 "$bin/pipeshard" run --model "$model" --prompt "$prompt" -n $n --temp 0.8 --seed 42 \
               --presence-penalty 1 --frequency-penalty 0.5 --ubatch "$chunk" --json)"
  [ "$(json_text <<< "$answer")" = "$(json_text <<< "$greedy")" ] ||
    bad "generate (gRPC) against run --ubatch $chunk" "$(json_text <<< "$answer") != $(json_text <<< "$greedy")"
  chat_json=null
  if [ -n "$rendered_chat" ]; then
    chat_json="$(timeout 60 "$bin/pipeshard" run --model "$model" --prompt "$rendered_chat" -n $n --temp 0 \
                 --ubatch "$chunk" --json)"
  fi
}

# Runs openai_client.js with the extra config fields $1.
openai_checks() {
  local label="$1" extra="$2"
  local config="$tmp/$label-client.json" out="$tmp/$label-client.out" rc=0
  [ $have_openai = 1 ] || return 0
  cat > "$config" << EOF
{"base_url": "$H", "api_key": "$key", "prompt": "$prompt", "max_tokens": $n,
 "greedy": $greedy, "seeded": {"temperature": 0.8, "seed": 42, "run": $seeded},
 "penalized": {"temperature": 0.8, "seed": 42, "presence_penalty": 1, "frequency_penalty": 0.5, "run": $penalized},
 "chat": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
          "max_tokens": $n, "run": $chat_json},
 "timeout_s": 60, "deadline_s": 90 $extra}
EOF
  timeout 100 node "$client_js" "$config" > "$out" 2> "$tmp/$label-client.err" || rc=$?
  # One line per check; the details of those that failed.
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const c of r.checks) {
      const how = c.skipped ? "skipped" : c.ok ? "ok" : "FAIL";
      console.log(`   ${how}: openai ${r.openai_version}: ${c.name}` + (c.ok && !c.skipped ? "" : ": " + JSON.stringify(c.detail)));
    }' "$out" || { cat "$out" "$tmp/$label-client.err" >&2; }
  if [ $rc != 0 ]; then
    local failed
    failed="$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
                       console.log(r.checks.filter(c => !c.ok).map(c => c.name).join(", "))' "$out" 2> /dev/null || true)"
    bad "$label: openai client" "exit $rc; failed: ${failed:-see $tmp/$label-client.err}"
  fi
}

model="$tmp/tiny.gguf"
prompt="Once upon a time"
n=16

# A chat template whose every newline comes from an expression, so its rendering is certain. It
# goes into the model (tokenizer.chat_template) where make-model takes --chat-template, and to
# the coordinator where it takes one; until then chat answers 400 naming --chat-template and the
# chat checks are skipped.
printf '%s' "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}" \
  > "$tmp/chat.jinja"
rendered_chat=""
model_chat=()
if grep -q -- '--chat-template' <<< "$("$bin/pipeshard" make-model --help 2>&1)"; then
  model_chat=(--chat-template "$tmp/chat.jinja")
  rendered_chat=$'system: Be brief.\nuser: Say hi\nassistant:'
fi
made="$("$bin/pipeshard" make-model "$model" --preset tiny "${model_chat[@]}" 2>&1)" || die "make-model: $made"
chat_option=()
help="$("$bin/pipeshard-coordinator" --help)"
if grep -q -- '--chat-template' <<< "$help"; then
  rendered_chat=$'system: Be brief.\nuser: Say hi\nassistant:'
  if grep -q -- '--chat-template-file' <<< "$help"; then
    chat_option=(--chat-template-file "$tmp/chat.jinja")
  elif grep -iE -- '--chat-template +(TEXT|FILE|PATH)?.*(file|path)' <<< "$help" > /dev/null; then
    chat_option=(--chat-template "$tmp/chat.jinja")
  else
    chat_option=(--chat-template "$(cat "$tmp/chat.jinja")")
  fi
fi

step "cluster A: 1 stage, API keys"
key="test-key-$RANDOM$RANDOM$RANDOM-abcdef"
mkdir -p "$tmp/A"
printf '# test\n%s\n' "$key" > "$tmp/A/keys"
chmod 600 "$tmp/A/keys"
auth=(-H "authorization: Bearer $key")
key_option=(--api-key "$key")
cluster=A
start_cluster A 1 --api-key-file "$tmp/A/keys" "${chat_option[@]}"
expectations
[ $have_openai = 0 ] || step "A: the openai client (chunk $chunk)"
openai_checks A ', "oversized_bytes": 4000000'

if [ $have_curl = 1 ]; then
  step "A: curl: keys, routes, methods"
  code() {  # code LABEL WANT CURL-ARGS...: the status must be WANT
    local label="$1" want="$2" got; shift 2
    rm -f "$tmp/reply"
    got="$(curl -s -o "$tmp/reply" -w '%{http_code}' --max-time 30 "$@" || true)"
    [ "$got" = "$want" ] && pass "$label: $want" || bad "$label" "want $want, got $got: $(head -c 400 "$tmp/reply")"
    ! coordinator_gone "$cluster" || die "after '$label': $gone_why"
  }
  body="{\"prompt\":\"$prompt\",\"max_tokens\":2}"
  code "GET /health without a key" 200 "$H/health"
  code "GET /v1/models without a key" 401 "$H/v1/models"
  code "GET /v1/models" 200 "${auth[@]}" "$H/v1/models"
  code "POST /v1/completions without a key" 401 "$H/v1/completions" -d "$body"
  code "POST /v1/completions with a wrong key" 401 -H "authorization: Bearer wrong-key-0123456789abcdef" \
    "$H/v1/completions" -d "$body"
  grep -q '"authentication_error"' "$tmp/reply" || bad "401 body" "no authentication_error: $(cat "$tmp/reply")"
  code "POST /v1/chat/completions without a key" 401 "$H/v1/chat/completions" -d '{"messages":[]}'
  code "GET /v1/nothing" 404 "${auth[@]}" "$H/v1/nothing"
  code "GET /v1/completions" 405 -D "$tmp/headers" "${auth[@]}" "$H/v1/completions"
  # RFC 9110 15.5.6: a 405 must list the allowed methods.
  grep -qiE '^allow: *POST' "$tmp/headers" || bad "405 headers" "no 'Allow: POST': $(tr -d '\r' < "$tmp/headers" | paste -sd'|')"
  code "GET /v1/chat/completions" 405 "${auth[@]}" "$H/v1/chat/completions"
  code "POST /health" 405 -X POST "$H/health"
  # 405 is the client's error, as 400, 404 and 413 are: not a server_error.
  grep -q '"type":"invalid_request_error"' "$tmp/reply" || bad "405 body" "type is not invalid_request_error: $(cat "$tmp/reply")"
  code "POST /v1/completions, not JSON" 400 "${auth[@]}" "$H/v1/completions" -d '{"prompt": '
  code "POST /v1/completions, top_p 3" 400 "${auth[@]}" "$H/v1/completions" -d '{"prompt":"x","top_p":3}'
  grep -q '"param":"top_p"' "$tmp/reply" || bad "top_p 3 body" "param is not top_p: $(cat "$tmp/reply")"

  step "A: curl: the body limit"
  # 4 MB: over any limit; the 413's message names the limit L.
  { printf '{"prompt":"'; head -c 4000000 /dev/zero | tr '\0' a; printf '"}'; } > "$tmp/4mb.json"
  code "4 MB body (Expect: 100-continue)" 413 "${auth[@]}" "$H/v1/completions" --data-binary @"$tmp/4mb.json"
  limit="$(grep -oE 'larger than [0-9]+ bytes' "$tmp/reply" | grep -oE '[0-9]+' || true)"
  if [ -z "$limit" ]; then
    bad "body limit" "no limit in the 413: $(cat "$tmp/reply")"
  else
    # A body of exactly L bytes is read (and its prompt refused as too long, 400); L + 1 is not.
    { printf '{"prompt":"'; head -c $((limit - 13)) /dev/zero | tr '\0' a; printf '"}'; } > "$tmp/limit.json"
    code "a body of exactly the limit ($limit bytes)" 400 "${auth[@]}" "$H/v1/completions" --data-binary @"$tmp/limit.json"
    grep -q '"param":"prompt"' "$tmp/reply" || bad "prompt too long" "param is not prompt: $(cat "$tmp/reply")"
    most="$(grep -oE 'at most [0-9]+ bytes' "$tmp/reply" | grep -oE '[0-9]+' || true)"
    [ -n "$most" ] && [ "$limit" = $((2 * most + 65536)) ] && pass "limit $limit = 2 x $most + 64 KiB" ||
      bad "body limit" "$limit is not 2 x max prompt bytes (${most:-?}) + 65536: $(cat "$tmp/reply")"
    { printf '{"prompt":"'; head -c $((limit - 12)) /dev/zero | tr '\0' a; printf '"}'; } > "$tmp/over.json"
    code "a body of the limit + 1 byte" 413 "${auth[@]}" "$H/v1/completions" --data-binary @"$tmp/over.json"
  fi
  # Most clients (node's fetch, the openai package) send the body at once, without Expect: the 413
  # must reach them too, not a reset connection (10 tries: losing it is a race).
  got=""
  for _ in $(seq 10); do
    got+="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Expect:' "${auth[@]}" "$H/v1/completions" \
            --data-binary @"$tmp/4mb.json" || true) "
  done
  [ "$got" = "$(printf '413 %.0s' $(seq 10))" ] && pass "4 MB body without Expect, 10 times: 413" ||
    bad "4 MB body without Expect, 10 times" "want 413 each time, got: $got(000: no response; curl exit 55, send failed)"

  step "A: curl: keep-alive, streaming"
  got="$(curl -s -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' --max-time 60 "${auth[@]}" \
         -d "{\"prompt\":\"$prompt\",\"max_tokens\":$n,\"temperature\":0}" "$H/v1/completions" "$H/v1/completions" || true)"
  [ "$(paste -sd' ' <<< "$got")" = "200 1 200 0" ] && pass "two requests on one connection" ||
    bad "two requests on one connection" "want '200 1 200 0' (code, new connections), got $(paste -sd' ' <<< "$got")"
  curl -s -N -D "$tmp/headers" -o "$tmp/stream" --max-time 60 "${auth[@]}" "$H/v1/completions" \
    -d "{\"prompt\":\"$prompt\",\"max_tokens\":$n,\"temperature\":0,\"stream\":true}" || true
  # (A delta per token, less those that end inside a UTF-8 character: their bytes come with the next.)
  deltas="$(grep -c '^data: {"choices":\[{"finish_reason":null' "$tmp/stream" || true)"
  if grep -qi '^content-type: text/event-stream' "$tmp/headers" && [ "$deltas" -ge 1 ] && [ "$deltas" -le $n ] &&
     [ "$(grep -c '"finish_reason":"length"' "$tmp/stream")" = 1 ] &&
     [ "$(grep -v '^$' "$tmp/stream" | tail -n 1)" = "data: [DONE]" ]; then
    pass "a stream: text/event-stream, $deltas deltas, finish_reason length, data: [DONE] last"
  else
    bad "stream" "$(cat "$tmp/headers" "$tmp/stream" | head -c 1500)"
  fi

  step "A: curl: clients hanging up mid-generation"
  long="{\"prompt\":\"$prompt\",\"max_tokens\":100000,\"temperature\":0,\"ignore_eos\":true"
  # (1) reads 3 events and closes: the request must be cancelled far before the context fills
  # (about 2040 tokens); tokens_generated says how far it went.
  before="$(status_number tokens_generated)"
  timeout 60 curl -s -N --max-time 50 "${auth[@]}" "$H/v1/completions" -d "$long,\"stream\":true}" |
    head -n 6 > "$tmp/cut" || true
  if ! wait_idle; then
    bad "stream closed after 3 events" "a request still runs 15 s later"
  else
    generated=$(($(status_number tokens_generated) - before))
    [ "$(grep -c '^data: {' "$tmp/cut")" = 3 ] && [ $generated -lt 1000 ] &&
      pass "stream closed after 3 events: cancelled after $generated tokens" ||
      bad "stream closed after 3 events" "$generated tokens generated (want < 1000); read: $(cat "$tmp/cut")"
  fi
  greedy_by_curl "greedy after a closed stream"
  # (2) and (3): curl --max-time 1 on a streamed and on a whole long generation.
  for mode in stream whole; do
    rc=0
    curl -s -N -o "$tmp/cut" --max-time 1 "${auth[@]}" "$H/v1/completions" \
      -d "$long,\"stream\":$([ $mode = stream ] && echo true || echo false)}" || rc=$?
    if [ $rc != 28 ]; then
      echo "   note: the $mode generation ended within curl's 1 s (curl exit $rc); the hang-up was not exercised"
    fi
    wait_idle && pass "$mode: curl --max-time 1 (exit $rc): no request left running" ||
      bad "$mode: curl --max-time 1" "a request still runs 15 s later"
    greedy_by_curl "greedy after curl --max-time 1 ($mode)"
  done

  step "A: curl: /metrics after the work above"
  # Scraped as Prometheus would: every family present, and the counters show the work done. Stage
  # byte counts come with the workers' heartbeats: a few tries.
  families=(pipeshard:num_requests_running pipeshard:num_requests_waiting pipeshard:prompt_tokens_total
            pipeshard:generation_tokens_total pipeshard:request_success_total pipeshard:time_to_first_token_seconds
            pipeshard:time_per_output_token_seconds pipeshard:e2e_request_latency_seconds pipeshard:recoveries_total
            pipeshard:stage_healthy pipeshard:stage_busy_fraction pipeshard:stage_microbatches_in_flight
            pipeshard:stage_sent_bytes_total)
  metric() { LC_ALL=C grep -E "^$1(\{[^}]*\})? " "$tmp/metrics" | head -n 1 | awk '{print $NF}'; }
  for try in 1 2 3 4 5 6; do
    code="$(curl -s -o "$tmp/metrics" -w '%{http_code}' --max-time 10 "$H/metrics" || true)"
    sent="$(metric pipeshard:stage_sent_bytes_total)"
    [ "$code" = 200 ] && awk -v v="${sent:-0}" 'BEGIN { exit !(v > 0) }' && break
    sleep 1
  done
  missing=()
  for f in "${families[@]}"; do grep -q "^# TYPE $f " "$tmp/metrics" || missing+=("$f"); done
  generated="$(metric pipeshard:generation_tokens_total)"
  if [ "$code" != 200 ] || ((${#missing[@]})); then
    bad "/metrics" "HTTP $code; families missing: ${missing[*]:-none}"
  elif ! awk -v g="${generated:-0}" -v b="${sent:-0}" 'BEGIN { exit !(g >= 16 && b > 0) }'; then
    bad "/metrics" "counters did not grow with the work: generation_tokens_total=$generated stage_sent_bytes_total=$sent"
  else
    pass "/metrics: ${#families[@]} families, $generated tokens generated, stage 0 sent $sent bytes"
  fi
fi
! coordinator_gone A || die "cluster A: $gone_why"
stop_pids
cluster=""

step "cluster B: 2 stages, --queue 0 --max-seqs 1"
key=""
auth=()
key_option=()
cluster=B
start_cluster B 2 --queue 0 --max-seqs 1 "${chat_option[@]}"
expectations
[ $have_openai = 0 ] || step "B: the openai client (chunk $chunk)"
openai_checks B ', "busy": true'

if [ $have_curl = 1 ]; then
  step "B: curl: one request after another"
  # A request ended by a stop string (the server cancels the rest of its generation), then the same
  # client's next request on the same connection: the first answer is whole, so the one slot must
  # be free again (5 pairs; pairs ended by max_tokens race the same way, less often).
  # The stop string: a word of the greedy answer after its first.
  word="$(json_text <<< "$greedy" | sed 's/^"text":"//' | tr ' ' '\n' | sed -n '2,$p' | grep -m 1 -E '^[A-Za-z]{3,}$' || true)"
  if [ -z "$word" ]; then
    echo "   note: no word to stop at in $(json_text <<< "$greedy"); the stop pairs are not checked"
  else
    got=""
    for _ in $(seq 5); do
      got+="$(curl -s -o /dev/null -o /dev/null -w '%{http_code} ' --max-time 60 \
              -d "{\"prompt\":\"$prompt\",\"max_tokens\":$n,\"temperature\":0,\"stop\":\" $word\"}" \
              "$H/v1/completions" "$H/v1/completions" || true)"
    done
    [ "$got" = "$(printf '200 %.0s' $(seq 10))" ] && pass "5 pairs of requests ended by the stop string ' $word': 200" ||
      bad "5 pairs of requests ended by the stop string ' $word', each pair on one connection" "want 200 each time, got: $got"
  fi

  step "B: curl: a second request beside a long stream"
  curl -s -N --max-time 50 "$H/v1/completions" -d "$long,\"stream\":true}" > "$tmp/long" 2>&1 &
  long_pid=$!
  pids+=($long_pid)
  for _ in $(seq 200); do grep -q '^data: {' "$tmp/long" && break; sleep 0.05; done  # 10 s
  grep -q '^data: {' "$tmp/long" || die "the long stream sent nothing within 10 s: $(cat "$tmp/long")"
  for stream in true false; do
    got="$(curl -s -N -o "$tmp/second" -w '%{http_code}' --max-time 30 "$H/v1/completions" \
           -d "{\"prompt\":\"$prompt\",\"max_tokens\":4,\"stream\":$stream}" || true)"
    if [ "$got" = 429 ] && grep -q '"rate_limit_error"' "$tmp/second"; then
      pass "second request (stream: $stream) beside a long stream: 429"
    else
      bad "second request (stream: $stream) beside a long stream" \
          "want HTTP 429 with a rate_limit_error, got HTTP $got: $(head -c 400 "$tmp/second")"
    fi
  done
  grep -q '\[DONE\]' "$tmp/long" && echo "   note: the long stream ended before the second request was refused"
  kill "$long_pid" 2> /dev/null || true
  wait "$long_pid" 2> /dev/null || true
  wait_idle && pass "the long stream's client killed: no request left running" ||
    bad "long stream's client killed" "a request still runs 15 s later"
  greedy_by_curl "greedy after the long stream (2 stages, chunk $chunk)"
fi
! coordinator_gone B || die "cluster B: $gone_why"

step "done"
if ((${#failures[@]})); then
  echo "FAILED: ${#failures[@]} check(s):" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
[ $have_openai = 1 ] || skip "the openai client checks did not run: $why_no_openai (the curl checks passed)"
echo "PASSED"
