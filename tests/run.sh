#!/usr/bin/env bash
# The whole test suite: install what is needed, build, run every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
export PIPESHARD_NODE_MODULES="$PWD/node_modules"
ctest --test-dir build --output-on-failure -j 2 --timeout 900
