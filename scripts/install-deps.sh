#!/usr/bin/env bash
# Installs the Debian packages dpuflow builds and tests with, only those missing.
# Idempotent: a second run with everything present does nothing and asks for no network.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config clang
  libdnnl-dev libonnx-dev protobuf-c-compiler libprotobuf-c-dev
  libjansson-dev libmicrohttpd-dev libutf8proc-dev libzip-dev libzstd-dev libcmocka-dev)
# prometheus brings promtool, which checks /metrics against the exposition format.
TEST_PKGS=(libonnx-testdata python3-numpy python3-onnx curl prometheus)
# Heavier peers only the reference and benchmark scripts need; opt in with DF_DEPS_FULL=1.
FULL_PKGS=(python3-torch python3-sentencepiece)

want=("${BUILD_PKGS[@]}")
case "${1:-}" in
  --build-only) ;;
  *) want+=("${TEST_PKGS[@]}") ;;
esac
[ "${DF_DEPS_FULL:-0}" = 1 ] && want+=("${FULL_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
