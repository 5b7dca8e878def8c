#!/usr/bin/env bash
# What opening archives costs a directory scan, next to ripgrep on the same tree.
#
# Builds a tree of real source files and real archives: COPIES copies of cargo's unpacked registry
# sources (~/.cargo/registry/src) and of its downloaded .crate files (gzip-compressed tars, as npm's
# .tgz), plus a few zips, jars and tgz files with planted keys (built at run time from random bodies).
# Then times, alternating, warm:
#   skguard scan TREE                    (archives opened, the default)
#   skguard scan TREE --archive-depth 0  (archives scanned as bytes only)
#   rg --hidden -a -c -F --no-require-git -e sk_live_ -e sk_test_ TREE
# and prints how many planted keys each skguard run found.
#
# usage: bench/archive-scan.sh [COPIES (default 4)] [RUNS (default 5)]
#   SKGUARD=path/to/skguard (default target/release/skguard)
set -euo pipefail
copies=${1:-4}
runs=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
skguard=${SKGUARD:-$here/target/release/skguard}
src=${CARGO_HOME:-$HOME/.cargo}/registry
for tool in "$skguard" rg hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[ -d "$src/src" ] && [ -d "$src/cache" ] || { echo "no cargo registry at $src (build skguard first)" >&2; exit 2; }

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
for i in $(seq 1 "$copies"); do
  mkdir -p "$tree/copy$i"
  cp -r "$src/src" "$tree/copy$i/src"
  cp -r "$src/cache" "$tree/copy$i/crates"
done
python3 - "$tree/planted" <<'PY'
import io, os, random, sys, tarfile, zipfile, gzip, string
out = sys.argv[1]
os.makedirs(out)
rng = random.Random(7)
def key():
    return "sk_" + "live_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))
for i in range(10):
    with zipfile.ZipFile(f"{out}/app{i}.jar", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        z.writestr("config/app.properties", f"api.key={key()}\n")
    data = f"API_KEY={key()}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("package/.env"); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    open(f"{out}/fixture{i}.tgz", "wb").write(buf.getvalue())
    open(f"{out}/dump{i}.sql.gz", "wb").write(gzip.compress(f"insert '{key()}';\n".encode()))
PY
files=$(find "$tree" -type f | wc -l)
archives=$(find "$tree" -type f \( -name '*.crate' -o -name '*.jar' -o -name '*.tgz' -o -name '*.gz' \) | wc -l)
echo "tree: $(du -sh "$tree" | cut -f1), $files files, $archives archives; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for depth in 3 0; do
  n=$("$skguard" scan "$tree" --archive-depth "$depth" --format jsonl 2>/dev/null | grep -c '"path":"planted/' || true)
  echo "skguard --archive-depth $depth: $n planted keys found (30 planted, all inside archives)"
done
hyperfine -N --warmup 1 --runs "$runs" --ignore-failure \
  "$skguard scan $tree --format jsonl" \
  "$skguard scan $tree --archive-depth 0 --format jsonl" \
  "rg --hidden -a -c -F --no-require-git -e sk_live_ -e sk_test_ $tree"
