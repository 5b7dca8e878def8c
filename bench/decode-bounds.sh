#!/usr/bin/env bash
# Decoder-bound benchmark (issue 10, item 6d; run on purpose, never in the test suite).
# 100 MB of text in which a base64 prefix literal fires every 12 characters (repeated base64 of
# `sk_live_!`, both as one line and wrapped at 76 columns as `base64` writes it), with one real key
# at the very end, against 100 MB of plain text with the same key at its end.
# Goal: the base64 files scan within 10x of the plain file, and the key at the end is still found.
# Two more files show the other dense paths (for information; the goal names the two above): the
# same base64 with a space after each quantum (runs too short for the base64-run scan: the DFA
# alone) and the prefix itself followed by `!`, 11 million times (raw hits every 9 bytes).
#
#   bench/decode-bounds.sh [DIR]
#
# Needs hyperfine and coreutils' base64.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/skguard-decode-bench}
mkdir -p "$dir"
size=$((100 * 1000 * 1000))
# The key is built here so that this file holds no key-shaped literal.
key="sk_""live_Bench9Tail8Qw7Er6Ty5Ui4"
# `yes | head` ends `yes` with SIGPIPE: not a failure here.
set +o pipefail
if [ ! -f "$dir/plain.txt" ]; then
  yes 'the quick brown fox jumps over the lazy dog 0123456789' | head -c "$size" > "$dir/plain.txt"
  printf '\nkey=%s\n' "$key" >> "$dir/plain.txt"
  # "sk_live_!" is 9 bytes, one whole base64 quantum group of 12 characters with no padding.
  yes 'c2tfbGl2ZV8h' | tr -d '\n' | head -c "$size" > "$dir/b64-line.txt"
  printf '\nkey: %s\n' "$(printf '%s' "$key" | base64 -w0)" >> "$dir/b64-line.txt"
  yes 'sk_live_!' | tr -d '\n' | head -c $((size * 3 / 4)) | base64 > "$dir/b64-wrapped.txt"
  printf 'key: %s\n' "$(printf '%s' "$key" | base64 -w0)" >> "$dir/b64-wrapped.txt"
fi
if [ ! -f "$dir/b64-spaced.txt" ]; then
  yes 'c2tfbGl2ZV8h' | tr '\n' ' ' | head -c "$size" > "$dir/b64-spaced.txt"
  printf '\nkey: %s\n' "$(printf '%s' "$key" | base64 -w0)" >> "$dir/b64-spaced.txt"
  yes 'sk_''live_!' | tr -d '\n' | head -c "$size" > "$dir/raw-dense.txt"
  printf '\nkey=%s\n' "$key" >> "$dir/raw-dense.txt"
fi
set -o pipefail
( cd "$here" && cargo build --release --quiet )
bin="${CARGO_TARGET_DIR:-$here/target}/release/skguard"
ls -l "$dir"
for f in plain.txt b64-line.txt b64-wrapped.txt b64-spaced.txt raw-dense.txt; do
  found=$("$bin" scan "$dir/$f" --format jsonl | grep -c '"fingerprint"' || true)
  echo "$f: $found finding(s) (expected 1: the key at the end)"
done
hyperfine --warmup 1 --runs 5 --ignore-failure \
  "$bin scan $dir/plain.txt --format jsonl" \
  "$bin scan $dir/b64-line.txt --format jsonl" \
  "$bin scan $dir/b64-wrapped.txt --format jsonl" \
  "$bin scan $dir/b64-spaced.txt --format jsonl" \
  "$bin scan $dir/raw-dense.txt --format jsonl"
# CPU time, which a busy machine disturbs less than wall time (best of 5).
for f in plain.txt b64-line.txt b64-wrapped.txt b64-spaced.txt raw-dense.txt; do
  best=$(for _ in 1 2 3 4 5; do
    { /usr/bin/time -f '%U %S' "$bin" scan "$dir/$f" --format jsonl 2>&1 >/dev/null || true; } | tail -1 | awk '{print $1 + $2}'
  done | sort -n | head -1)
  echo "$f: best CPU time ${best}s"
done
