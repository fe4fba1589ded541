#!/usr/bin/env bash
# The main job: install, build, make the built-in tiny model, answer a prompt with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
mkdir -p run
[ -f run/tiny.gguf ] || build/bin/pipeshard make-model run/tiny.gguf --preset tiny
build/bin/pipeshard run --model run/tiny.gguf --prompt "${PROMPT:-Once upon a time}" -n 48 --temp 0
build/bin/pipeshard gguf-info run/tiny.gguf | head -n 20
