#!/usr/bin/env bash
# dpuflow build end to end on the fixtures: an HF folder (framework pytorch) and an ONNX file
# (framework onnx); the content-hash cache (a rerun does nothing), --force, --from, the
# registry verbs (list/show/disable/enable/check with a deleted and a modified artifact),
# the compiled artifact running through `dpuflow run`, and bad configs naming the key.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIX=$SRC/tests/fixtures
if ! "$BIN" build --help >/dev/null 2>&1; then
    echo "skip: $BIN has no build verb"
    exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
run() { # name want_rc cmd... : stdout/stderr in $TMP/out, $TMP/err
    local name=$1 want=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ "$rc" = "$want" ]; then ok "$name"; else bad "$name: exit $rc, want $want"; cat "$TMP/out" "$TMP/err"; fi
}
has() { # name pattern file
    if grep -q -- "$2" "$3"; then ok "$1"; else bad "$1: no '$2' in $3"; cat "$3"; fi
}

# Configs live in the work dir; their paths point back into the fixtures (relative to the
# config file, as users write them).
mkdir -p cfg
ln -s "$FIX" cfg/fixtures
cat >cfg/tiny.json <<JSON
{"model_name": "bert_tiny", "framework": "pytorch", "model_path": "fixtures/hf/bert_tiny",
 "tokenizer": "fixtures/hf/bert_tiny/vocab.txt", "task": "intent_classify", "input_shape": [1, 16],
 "calibration": {"samples": 8}, "output_dir": "../bld/bert_tiny"}
JSON
cat >cfg/mean.json <<JSON
{"model_name": "bert_mean", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx",
 "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "sentence_vector", "input_shape": [1, 16],
 "calibration": {"samples": 8}, "output_dir": "../bld/bert_mean"}
JSON
REG=$TMP/reg/model_registry.json
mkdir -p reg

# ---- framework onnx: starts at check -------------------------------------------------------
run "onnx build" 0 "$BIN" build cfg/mean.json --registry "$REG"
has "onnx build skips export" "export ... skipped (framework onnx)" out
has "onnx build progress line" "\[3/7\] calibrate ... ok (" out
for f in export/model_sim.onnx calib/calib_data.npz quant/deploy_model.onnx quant/quant_info.json \
         quant/quant_log.txt compiled/bert_mean_cpu.onnx compiled/meta.json compiled/compile_log.txt \
         compiled/quant_info.json build.log vocab.txt; do
    [ -s bld/bert_mean/$f ] && ok "layout $f" || bad "layout $f missing"
done
has "meta names the format" '"format": "onnx-static"' bld/bert_mean/compiled/meta.json
has "compile log FLOPs" "estimated FLOPs" bld/bert_mean/compiled/compile_log.txt
run "onnx rebuild" 0 "$BIN" build cfg/mean.json --registry "$REG"
has "rebuild does nothing" "nothing to do" out
[ "$(grep -c 'cached' out)" = 6 ] && ok "six stages cached" || { bad "six stages cached"; cat out; }
run "force" 0 "$BIN" build cfg/mean.json --registry "$REG" --force
has "force reruns" "6 stages ran" out
run "from quantize" 0 "$BIN" build cfg/mean.json --registry "$REG" --from quantize
has "from quantize keeps check" "check ... cached" out
has "from quantize runs quantize" "quantize ... ok" out
has "build.log records stages" "calibrate ok in" bld/bert_mean/build.log
# the artifact runs as-is
"$BIN" run bld/bert_mean/compiled/bert_mean_cpu.onnx --help >/dev/null 2>&1
if "$BIN" run bld/bert_mean/compiled/bert_mean_cpu.onnx "$FIX/models/bert_mean.inputs.npz" >"$TMP/run" 2>&1 ||
   "$BIN" run bld/bert_mean/compiled/bert_mean_cpu.onnx --inputs "$FIX/models/bert_mean.inputs.npz" >"$TMP/run" 2>&1 ||
   "$BIN" check bld/bert_mean/compiled/bert_mean_cpu.onnx --seq 16 >"$TMP/run" 2>&1; then
    ok "compiled artifact loads"
else
    bad "compiled artifact loads"; cat "$TMP/run"
fi
# a changed config value re-runs only what reads it
sed 's/"samples": 8/"samples": 2/' cfg/mean.json >cfg/mean6.json
run "changed samples" 0 "$BIN" build cfg/mean6.json --registry "$REG"
has "check stays cached" "check ... cached" out
has "calibrate reruns" "calibrate ... ok" out

# ---- framework pytorch: export from the HF folder --------------------------------------------
if "$BIN" export --help >/dev/null 2>&1; then
    run "pytorch build" 0 "$BIN" build cfg/tiny.json --registry "$REG"
    has "export ran" "export ... ok" out
    [ -s bld/bert_tiny/export/metadata.json ] && ok "metadata.json" || bad "metadata.json missing"
    run "pytorch rebuild" 0 "$BIN" build cfg/tiny.json --registry "$REG"
    has "pytorch rebuild cached" "nothing to do" out
    # A serving batch above 1: the stages run on batch-1 rows and compile proves one plan
    # serves every batch up to it.
    sed 's/"input_shape": \[1, 16\]/"input_shape": [4, 16]/; s#bld/bert_tiny#bld/bert_tiny_b4#' cfg/tiny.json >cfg/tiny4.json
    run "pytorch build at [4,16]" 0 "$BIN" build cfg/tiny4.json --registry "$TMP/reg4.json"
    has "compile proves batches 1-4" "batches 1-4 in one plan" out
    /usr/bin/python3 -c "import json; d=json.load(open('$TMP/reg4.json')); assert d['models'][0]['input_shape']==[4,16], d" \
        && ok "registry keeps [4,16]" || bad "registry keeps [4,16]"
    sed 's/"input_shape": \[1, 16\]/"input_shape": [4, 16]/; s#bld/bert_mean#bld/bert_mean_b4#' cfg/mean.json >cfg/mean4.json
    run "onnx build at [4,16]" 0 "$BIN" build cfg/mean4.json --registry "$TMP/reg4.json"
    has "onnx compile proves batches 1-4" "batches 1-4 in one plan" out
else
    echo "skip pytorch build: this dpuflow has no export verb (convert/ not built)"
fi

# ---- registry verbs ----------------------------------------------------------------------------
run "registry list" 0 "$BIN" registry list --registry "$REG"
has "list shows bert_mean" "bert_mean" out
run "registry list --json" 0 "$BIN" registry list --json --registry "$REG"
/usr/bin/python3 -c "import json,sys; d=json.load(open('$TMP/out')); assert d['task_routing_map']['sentence_vector']=='bert_mean'; assert 'bert_mean' in d['fallback_chain']['cpu']" \
    && ok "registry json routes" || bad "registry json routes"
run "registry show" 0 "$BIN" registry show bert_mean --registry "$REG"
has "show version" "version:       4" out
has "show artifact is relative" "artifact_path: ../bld/bert_mean/compiled/bert_mean_cpu.onnx" out
run "show unknown" 1 "$BIN" registry show nosuch --registry "$REG"
has "show unknown names it" "nosuch" err
run "disable" 0 "$BIN" registry disable bert_mean --registry "$REG"
run "list disabled" 0 "$BIN" registry list --registry "$REG"
has "status disabled" "disabled" out
run "enable" 0 "$BIN" registry enable bert_mean --registry "$REG"
run "check clean" 0 "$BIN" registry check --registry "$REG"
cp bld/bert_mean/compiled/bert_mean_cpu.onnx "$TMP/keep.onnx"
printf 'x' >>bld/bert_mean/compiled/bert_mean_cpu.onnx
run "check modified" 1 "$BIN" registry check --registry "$REG"
has "modified is stale" "stale" out
rm bld/bert_mean/compiled/bert_mean_cpu.onnx
run "check deleted" 1 "$BIN" registry check --registry "$REG"
has "deleted is error" "artifact missing" out
# a rebuild repairs it (the compile outputs are gone, so compile and register rerun)
run "rebuild repairs" 0 "$BIN" build cfg/mean.json --registry "$REG"
has "compile reran" "compile ... ok" out
run "check repaired" 0 "$BIN" registry check --registry "$REG"
# register by hand from a build dir, into a second registry
run "register --build-dir" 0 "$BIN" register --registry "$TMP/reg2.json" --build-dir bld/bert_mean --task sentence_vector
has "register prints version" "registered bert_mean v1" out
run "remove" 0 "$BIN" registry remove bert_mean --registry "$TMP/reg2.json"
run "missing registry" 1 "$BIN" registry list --registry "$TMP/none.json"
printf '{"models": [' >"$TMP/corrupt.json"
run "corrupt registry" 1 "$BIN" registry check --registry "$TMP/corrupt.json"
has "corrupt names the file" "corrupt.json" err
[ "$(cat "$TMP/corrupt.json")" = '{"models": [' ] && ok "corrupt left untouched" || bad "corrupt rewritten"

# ---- bad configs ------------------------------------------------------------------------------
badcfg() { # name json pattern
    printf '%s' "$2" >cfg/bad.json
    run "bad config: $1" 1 "$BIN" build cfg/bad.json --registry "$REG"
    has "bad config names it: $1" "$3" err
}
badcfg "unknown key" '{"model_name": "m", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx", "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "t", "sampels": 3}' '"sampels"'
badcfg "nested unknown key" '{"model_name": "m", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx", "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "t", "calibration": {"sampels": 3}}' 'calibration.sampels'
badcfg "wrong type" '{"model_name": "m", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx", "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "t", "calibration": {"samples": "50"}}' 'calibration.samples'
badcfg "missing file" '{"model_name": "m", "framework": "onnx", "model_path": "fixtures/models/nope.onnx", "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "t"}' 'nope.onnx'
badcfg "missing key" '{"model_name": "m", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx", "task": "t"}' '"tokenizer" is required'
badcfg "fpga needs pof2" '{"model_name": "m", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx", "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "t", "target": {"platform": "fpga"}}' 'pof2'
badcfg "not json" '{"model_name": ' 'not valid JSON'
printf '%s' '{"model_name": "fp", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx", "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "t", "input_shape": [1, 16], "calibration": {"samples": 4}, "quantization": {"scale": "pof2"}, "target": {"platform": "fpga"}, "output_dir": "../bld/fp"}' >cfg/fpga.json
run "fpga build (issue 6; tests/integration/fpga_build.sh covers it)" 0 "$BIN" build cfg/fpga.json --registry "$REG"
has "fpga compiles" "compile ... ok" out
run "bad --from" 2 "$BIN" build cfg/mean.json --from nowhere
run "compile verb fpga" 1 "$BIN" compile bld/bert_mean/quant/deploy_model.onnx --name x --platform fpga --out "$TMP/c"
run "check --simplify" 0 "$BIN" check "$FIX/models/bert_mean_op13.onnx" --seq 16 --simplify --out "$TMP/sim.onnx"

echo "build_pipeline: $pass passed, $fail failed"
[ "$fail" = 0 ]
