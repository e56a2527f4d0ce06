#!/usr/bin/env bash
# promtool check metrics on a populated df_observe exposition. promtool comes with Debian's
# `prometheus` package (~96 MB installed, so not in install-deps.sh): apt-get install prometheus.
set -u
name=observe_promtool
if ! command -v promtool >/dev/null; then echo "$name: promtool not installed (apt-get install prometheus); skipped"; exit 77; fi
emit="$DF_BUILD_DIR/test_observe_metrics"
[ -x "$emit" ] || { echo "$name: $emit not built"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
if "$emit" --emit "$tmp/metrics.prom" && [ -s "$tmp/metrics.prom" ]; then pass=$((pass+1)); else echo "FAIL: emit"; fail=$((fail+1)); fi
if out=$(promtool check metrics < "$tmp/metrics.prom" 2>&1) && [ -z "$out" ]; then pass=$((pass+1)); else echo "FAIL: promtool: $out"; fail=$((fail+1)); fi
echo "$name: $pass passed, $fail failed"
[ $fail -eq 0 ]
