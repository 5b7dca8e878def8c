#!/usr/bin/env bash
# Directory-scan benchmark (run on purpose, never in the test suite).
# Goal (SPEC): as fast as ripgrep searching the same tree for the two prefixes with the same ignore
# rules (rg needs --no-require-git: skguard honours .gitignore outside git repositories too), hidden
# and binary files included.
#
#   bench/dir-scan.sh [CORPUS_DIR] [COPIES]
#
# The corpus is COPIES copies of the local cargo registry's crate sources (real Rust, C, docs, data
# and binary test files), with a few synthetic keys planted. Needs ripgrep and hyperfine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-/tmp/skguard-bench-corpus}
copies=${2:-4}
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ | head -n 1)
if [ ! -d "$corpus" ]; then
  mkdir -p "$corpus"
  for i in $(seq 1 "$copies"); do cp -r "$src" "$corpus/copy$i"; done
  body=Bench0Planted1Key2Qw3Er4Ty
  printf 'API_KEY=sk_live_%s\n' "$body" > "$corpus/copy1/.env"
  printf 'x = "sk_test_%s"\n' "$body" > "$corpus/copy2/config.py"
fi
( cd "$here" && cargo build --release --quiet )
bin="$here/target/release/skguard"
echo "corpus: $(du -sh "$corpus" | cut -f1), $(find "$corpus" -type f | wc -l) files"
cd "$corpus"
hyperfine --warmup 2 --runs 10 --ignore-failure \
  "rg --hidden -a -c -F --no-require-git -e sk_live_ -e sk_test_ ." \
  "$bin scan . --format jsonl"
