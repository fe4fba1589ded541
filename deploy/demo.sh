#!/usr/bin/env bash
# The main job: install, build, make the built-in tiny model, start a local cluster (a
# coordinator and three CPU workers, one pipeline stage each), answer a prompt through it, show
# the cluster's status, and stop the cluster (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
mkdir -p run
[ -f run/tiny.gguf ] || build/bin/pipeshard make-model run/tiny.gguf --preset tiny
run_dir=run/demo-cluster
trap 'bash deploy/cluster.sh down --run-dir "$run_dir" > /dev/null' EXIT
bash deploy/cluster.sh up --workers 3 --model run/tiny.gguf --run-dir "$run_dir"
server="$(cat "$run_dir/address")"
cat <<'NOTE'

About the output below: run/tiny.gguf is the built-in test model, made by `pipeshard make-model
--preset tiny` with random weights (4 layers of 256, a small built-in vocabulary), so its text is
gibberish by design. What it shows: the prompt went through three worker processes, w0, w1 and
w2, each holding a contiguous range of the model's layers (stage i on worker wi), and the tokens
that came back are exactly those a single `pipeshard run` of the same model gives. For real text,
use a downloaded model: README.md, "Quick start with a downloaded model".

NOTE
build/bin/pipeshard generate --server "$server" --prompt "${PROMPT:-Once upon a time}" -n 48 --temp 0
build/bin/pipeshard status --server "$server"
