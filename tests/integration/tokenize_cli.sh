#!/usr/bin/env bash
# dpuflow tokenize as a user runs it: JSON shape, framing, --max-len 0, --file, bad input
# (exit 1) and bad usage (exit 2). Uses the in-repo fixtures; ../shared cases run when present.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIX=$SRC/tests/fixtures/text
SHARED=${DF_SHARED_DIR:-$SRC/../shared}
if ! "$BIN" tokenize --help >/dev/null 2>&1; then
    echo "skip: $BIN has no tokenize verb"
    exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # name expected actual
    if [ "$2" != "$3" ]; then
        echo "FAIL $1"; echo "  want: $2"; echo "  got:  $3"; fail=1
    else
        echo "ok   $1"
    fi
}
expect_rc() { # name want_rc cmd...
    local name=$1 want=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL $name: exit $rc, want $want"; cat "$TMP/err"; fail=1
    elif [ "$want" != 0 ] && ! grep -q '^dpuflow tokenize: ' "$TMP/err"; then
        echo "FAIL $name: stderr lacks 'dpuflow tokenize: '"; cat "$TMP/err"; fail=1
    else
        echo "ok   $name (exit $rc)"
    fi
}

out=$("$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --max-len 6 --text "Hello, World" --json)
check "wordpiece framed" '{"tokens":["[CLS]","hello",",","world","[SEP]","[PAD]"],"ids":[3,7,18,8,4,0],"attention_mask":[1,1,1,1,1,0]}' "$out"
out=$("$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --max-len 0 --text "unaffable 你好" --json)
check "wordpiece bare" '{"tokens":["un","##aff","##able","你","好"],"ids":[9,10,11,28,29],"attention_mask":[1,1,1,1,1]}' "$out"
out=$("$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --no-lowercase --max-len 0 --text "Dog dog" --json)
check "no-lowercase" '{"tokens":["Dog","dog"],"ids":[38,37],"attention_mask":[1,1]}' "$out"
out=$("$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --max-len 4 --text "hello world hello" --json)
check "truncation" '{"tokens":["[CLS]","hello","world","[SEP]"],"ids":[3,7,8,4],"attention_mask":[1,1,1,1]}' "$out"
out=$("$BIN" tokenize --spm "$FIX/tiny.model" --max-len 0 --text "今天天气不错" --json)
check "spm bare" '{"tokens":["▁今天","天气不错"],"ids":[25,195],"attention_mask":[1,1]}' "$out"
out=$("$BIN" tokenize --spm "$FIX/tiny.model" --max-len 5 --text "hello world" --json)
check "spm framed" '{"tokens":["<s>","▁hello","▁world","</s>","<pad>"],"ids":[2,50,35,3,0],"attention_mask":[1,1,1,1,0]}' "$out"
out=$("$BIN" tokenize --tokenizer "$FIX/tiny-unigram.json" --max-len 0 --text "数据flow模型data" --json)
check "unigram tokenizer.json" '{"tokens":["▁数据","flow","模型","data"],"ids":[10,99,65,90],"attention_mask":[1,1,1,1]}' "$out"
printf 'hello\r\n你好\n' >"$TMP/texts.txt"
out=$("$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --max-len 0 --file "$TMP/texts.txt" --json | tr '\n' '|')
check "--file" '{"tokens":["hello"],"ids":[7],"attention_mask":[1]}|{"tokens":["你","好"],"ids":[28,29],"attention_mask":[1,1]}|' "$out"
if [ -f "$SHARED/data/vocab/bert-base-uncased/vocab.txt" ]; then
    out=$("$BIN" tokenize --vocab "$SHARED/data/vocab/bert-base-uncased/vocab.txt" --max-len 0 --text "Hello, y'all!" --json)
    check "bert-base-uncased" '{"tokens":["hello",",","y","'"'"'","all","!"],"ids":[7592,1010,1061,1005,2035,999],"attention_mask":[1,1,1,1,1,1]}' "$out"
fi

printf 'ok\nb\xffd\n' >"$TMP/bad.txt"
expect_rc "invalid UTF-8 in --file" 1 "$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --file "$TMP/bad.txt" --json
grep -q 'bad.txt:2: invalid UTF-8 at byte offset 1' "$TMP/err" || { echo "FAIL: message lacks line and offset"; fail=1; }
expect_rc "invalid UTF-8 in --text" 1 "$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --text "$(printf 'a\xc3')" --json
printf '[PAD]\nhello\n' >"$TMP/nounk.txt"
expect_rc "vocab without [UNK]" 1 "$BIN" tokenize --vocab "$TMP/nounk.txt" --text hi --json
grep -q 'nounk.txt' "$TMP/err" || { echo "FAIL: message does not name the vocab"; fail=1; }
head -c 300 "$FIX/tiny.model" >"$TMP/cut.model"
expect_rc "truncated .model" 1 "$BIN" tokenize --spm "$TMP/cut.model" --text hi --json
echo '{"model": ' >"$TMP/bad.json"
expect_rc "malformed tokenizer.json" 1 "$BIN" tokenize --tokenizer "$TMP/bad.json" --text hi --json
expect_rc "missing file" 1 "$BIN" tokenize --vocab "$TMP/nope.txt" --text hi
expect_rc "no tokenizer" 2 "$BIN" tokenize --text hi
expect_rc "two tokenizers" 2 "$BIN" tokenize --vocab a --spm b --text hi
expect_rc "no text" 2 "$BIN" tokenize --vocab "$FIX/tiny-vocab.txt"
expect_rc "bad --max-len" 2 "$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --max-len 1 --text hi
expect_rc "unknown option" 2 "$BIN" tokenize --vocab "$FIX/tiny-vocab.txt" --text hi --frobnicate
exit $fail
