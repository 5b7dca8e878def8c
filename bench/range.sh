#!/usr/bin/env bash
# --range by per-commit diffs vs by the object engine, on a bare repository, for ranges of growing
# length: wall, CPU (user+sys) and peak RSS of each. Not a test: run it on purpose.
#   bench/range.sh REPO.git [BRANCH] [N...]     (default: master 50 500 1000 2000 5000)
# git/git is the reference (the tool library's `fetch`; never commit it). Needs a release build.
set -euo pipefail
repo=${1:?usage: bench/range.sh REPO.git [BRANCH] [N...]}
branch=${2:-master}
shift $(( $# >= 2 ? 2 : 1 ))
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(50 500 1000 2000 5000)
bin=${SKGUARD:-${CARGO_TARGET_DIR:-target}/release/skguard}
printf '%-6s %-8s %-7s %8s %8s %9s %s\n' back commits path wall_s cpu_s rss_MB exit
for n in "${counts[@]}"; do
  base=$(git -C "$repo" rev-list "$branch" | sed -n "$((n + 1))p")
  commits=$(git -C "$repo" rev-list --count "$base..$branch")
  for mode in diffs engine; do
    min=1000000000; [ "$mode" = engine ] && min=1
    out=$(mktemp)
    set +e
    SKGUARD_RANGE_ENGINE_MIN_COMMITS=$min /usr/bin/time -v "$bin" scan --format json \
      --range "$base..$branch" "$repo" >/dev/null 2>"$out"
    code=$?
    set -e
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0;
      for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$out")
    cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$out")
    rss=$(awk -F': ' '/Maximum resident/ {print int($2 / 1024)}' "$out")
    printf '%-6s %-8s %-7s %8s %8s %9s %s\n' "$n" "$commits" "$mode" "$wall" "$cpu" "$rss" "$code"
    rm -f "$out"
  done
done
