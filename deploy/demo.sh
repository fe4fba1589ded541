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
build/bin/pipeshard generate --server "$server" --prompt "${PROMPT:-Once upon a time}" -n 48 --temp 0
build/bin/pipeshard status --server "$server"
