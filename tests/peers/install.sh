#!/usr/bin/env bash
# Install the ONNX Runtime Node peer (onnxruntime-node, CPU binaries inside the package)
# into tests/peers/node_modules if it is missing. Its install script only fetches optional
# CUDA parts, so it is skipped (--ignore-scripts).
# Exit 0 when the peer loads, 77 (CTest: skipped) with a message when it cannot be had.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here" || exit 77

if ! command -v node >/dev/null 2>&1; then
  echo "install.sh: node not found; ONNX Runtime peer unavailable (skipping)" >&2
  exit 77
fi

loads() { node --input-type=module -e "
  import { createRequire } from 'node:module';
  const require = createRequire('$here/package.json');
  require('onnxruntime-node'); require('openai');" >/dev/null 2>&1; }

if loads; then exit 0; fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install.sh: npm not found; cannot install onnxruntime-node (skipping)" >&2
  exit 77
fi

# Several tests may call this at once under ctest -j: one installs, the others wait.
exec 9>"${TMPDIR:-/tmp}/dpuflow-ort-install.$(id -u).lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if loads; then exit 0; fi

echo "install.sh: installing onnxruntime-node into $here/node_modules ..." >&2
if [ -f package-lock.json ]; then cmd=(npm ci); else cmd=(npm install); fi
if ! "${cmd[@]}" --ignore-scripts --no-audit --no-fund --loglevel=error >&2; then
  echo "install.sh: '${cmd[*]} --ignore-scripts' failed (no registry access?); skipping" >&2
  exit 77
fi
if ! loads; then
  echo "install.sh: onnxruntime-node installed but does not load on this machine; skipping" >&2
  exit 77
fi
echo "install.sh: onnxruntime-node $(node "$here/ort_run.mjs" version) ready" >&2
exit 0
