#!/usr/bin/env bash
# Staged-scan benchmark (run on purpose): an ordinary commit of a few files in a repository of
# 100,000 files. Goal (SPEC): under 50 ms. Needs hyperfine.
#
#   bench/staged.sh [REPO_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=${1:-/tmp/skguard-bench-staged}
( cd "$here" && cargo build --release --quiet )
if [ ! -d "$repo/.git" ]; then
  git init -q -b main "$repo"
  python3 "$here/bench/make-history.py" 1 100000 | git -C "$repo" fast-import --quiet
  git -C "$repo" checkout -q -f main
fi
cd "$repo"
git reset -q --hard
for f in src/mod001/file00001.rs src/mod002/file00002.rs src/mod050/file00050.rs; do
  printf '// an ordinary change\nfn added() {}\n' >> "$f"
done
git add -A
echo "files in the index: $(git ls-files | wc -l), staged: $(git diff --cached --name-only | wc -l)"
hyperfine --warmup 3 --runs 20 --ignore-failure "$here/target/release/skguard scan --staged"
git reset -q --hard
