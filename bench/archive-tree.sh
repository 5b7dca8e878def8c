#!/usr/bin/env bash
# The directory scan on an ordinary tree that holds a few hundred ordinary archives, next to ripgrep
# (issue 12's benchmark; bench/archive-scan.sh is the archive-heavy one).
#
# Builds, offline and the same way every time (SEED picks the planted keys and where they go):
#   - source text: one copy of cargo's unpacked registry sources (~/.cargo/registry/src) and git's
#     own sources at ten releases (`git archive` of GIT_MIRROR: v2.0.0, v2.10.0 … v2.45.0, HEAD);
#   - npm fixtures: every package installed under /usr/lib/node_modules (npm's own dependencies,
#     npm, corepack) packed as `npm pack` packs it (a gzip'd tar of `package/…`), one .tgz each;
#   - jars: copies of the real jars under /usr/share/java and /usr/share/maven-repo;
#   - zips: source folders zipped (deflate) as a "Download ZIP" gives them: git's top folders,
#     and a sample of the crates;
#   - keys: one archive in six of each kind gets a member holding a key (a jar's
#     config/application.properties, a package's test/fixtures/config.json, a zip's .env), a few
#     "release bundle" zips hold a jar that holds a key (nested), and some plain text files get a
#     key line. Keys are built at run time from random bodies; the list stays outside the tree.
# Then it reports how many planted keys each skguard run finds, and times, warm, side by side:
#   skguard scan TREE                    (archives opened, the default)
#   skguard scan TREE --archive-depth 0  (archives scanned as bytes only)
#   rg --hidden -a -c -F -e sk_live_ -e sk_test_ TREE
# with hyperfine (wall time, user and system CPU).
#
# usage: [ROUNDS=1] bench/archive-tree.sh [RUNS (default 5)]
#   SKGUARD=path/to/skguard (default $CARGO_TARGET_DIR or target, release)
#   GIT_MIRROR=a git.git repository (default /work/.mirror/git+git/repo)  SEED=12  KEEP=1 keeps it
set -euo pipefail
runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
skguard=${SKGUARD:-${CARGO_TARGET_DIR:-$here/target}/release/skguard}
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
mirror=${GIT_MIRROR:-/work/.mirror/git+git/repo}
seed=${SEED:-12}
for tool in "$skguard" rg hyperfine python3 git tar; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
[ -d "$registry" ] || { echo "no cargo registry sources at $registry" >&2; exit 2; }
git -C "$mirror" rev-parse -q --verify v2.0.0 >/dev/null || { echo "no git.git at $mirror" >&2; exit 2; }

work=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "kept: $work" || trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir -p "$tree"
cp -r "$registry" "$tree/cargo-src"
for tag in v2.0.0 v2.10.0 v2.15.0 v2.20.0 v2.25.0 v2.30.0 v2.35.0 v2.40.0 v2.45.0 HEAD; do
  mkdir -p "$tree/git-$tag"
  git -C "$mirror" archive "$tag" | tar -x -C "$tree/git-$tag"
done

python3 - "$tree" "$work/planted.tsv" "$seed" <<'PY'
import gzip, io, json, os, random, shutil, string, sys, tarfile, zipfile
tree, planted_list, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
planted = []
ALNUM = string.ascii_letters + string.digits

def key():
    kind = rng.choice(["live", "test"])
    return "sk_" + kind + "_" + "".join(rng.choice(ALNUM) for _ in range(rng.choice([24, 32, 99])))

def files_under(root, skip_node_modules=False):
    out = []
    for d, dirs, names in os.walk(root):
        dirs.sort()
        if skip_node_modules and "node_modules" in dirs:
            dirs.remove("node_modules")
        for n in sorted(names):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out

def zip_info(name):
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info

def tgz(path, members):
    """A gzip'd tar of (name, bytes), as npm pack writes it (fixed times and owners)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 499162500, 0o644
            t.addfile(info, io.BytesIO(data))
    with open(path, "wb") as out:
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as g:
            g.write(raw.getvalue())

def plant(kind, path, member):
    k = key()
    planted.append((kind, os.path.relpath(path, tree), member, k))
    return k

# npm fixtures: every installed package (a folder with a package.json), its own node_modules left out.
npm = os.path.join(tree, "web", "test", "fixtures", "npm")
os.makedirs(npm)
packages = []
for base in ["/usr/lib/node_modules", "/usr/local/lib/node_modules"]:
    for d, dirs, names in os.walk(base):
        dirs.sort()
        parent = os.path.basename(os.path.dirname(d))
        grand = os.path.basename(os.path.dirname(os.path.dirname(d)))
        if "package.json" in names and (parent == "node_modules"
                                        or parent.startswith("@") and grand == "node_modules"):
            packages.append(d)
            dirs[:] = [x for x in dirs if x == "node_modules"]
stems = set()
tgz_n = 0
for i, d in enumerate(sorted(set(packages))):
    try:
        meta = json.load(open(os.path.join(d, "package.json")))
        stem = f"{meta['name'].replace('@', '').replace('/', '-')}-{meta['version']}"
    except Exception:
        continue
    if stem in stems:
        continue
    stems.add(stem)
    members = [("package/" + os.path.relpath(p, d), open(p, "rb").read())
               for p in files_under(d, skip_node_modules=True)]
    path = os.path.join(npm, stem + ".tgz")
    if i % 6 == 3:
        k = plant("tgz", path, "package/test/fixtures/config.json")
        at = rng.randrange(len(members) + 1)
        members.insert(at, ("package/test/fixtures/config.json",
                            json.dumps({"apiKey": k, "currency": "usd"}, indent=2).encode()))
    tgz(path, members)
    tgz_n += 1

# jars: the real ones, copied; one in six gets a properties file with a key.
lib = os.path.join(tree, "java", "lib")
os.makedirs(lib)
jars = sorted({os.path.realpath(os.path.join(d, n))
               for base in ["/usr/share/java", "/usr/share/maven-repo"]
               for d, _, names in os.walk(base) for n in names if n.endswith(".jar")})
jars = [j for j in jars if os.path.isfile(j) and zipfile.is_zipfile(j)]
jar_n = 0
for i, j in enumerate(jars):
    path = os.path.join(lib, f"{i:03}-{os.path.basename(j)}")
    shutil.copyfile(j, path)
    if i % 6 == 1:
        k = plant("jar", path, "config/application.properties")
        with zipfile.ZipFile(path, "a") as z:
            z.writestr(zip_info("config/application.properties"),
                       f"app.name=demo\npayments.api-key={k}\n")
    jar_n += 1

# zips: source folders, as "Download ZIP" gives them.
dl = os.path.join(tree, "downloads")
os.makedirs(dl)
head = os.path.join(tree, "git-HEAD")
folders = [os.path.join(head, n) for n in sorted(os.listdir(head)) if os.path.isdir(os.path.join(head, n))]
crates = sorted(os.path.join(r, c) for r in [os.path.join(tree, "cargo-src", x)
                for x in sorted(os.listdir(os.path.join(tree, "cargo-src")))] for c in os.listdir(r))
folders += crates[:: max(1, len(crates) // 90)]
zip_n = 0
for i, d in enumerate(folders):
    path = os.path.join(dl, f"{i:03}-{os.path.basename(d)}.zip")
    top = os.path.basename(d)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        members = files_under(d)
        at = rng.randrange(len(members) + 1) if i % 6 == 5 else -1
        for n, p in enumerate(members + [None]):
            if n == at:
                k = plant("zip", path, f"{top}/.env")
                z.writestr(zip_info(f"{top}/.env"), f"# local settings\nSECRET_KEY={k}\nDEBUG=1\n")
            if p is not None:
                z.writestr(zip_info(f"{top}/" + os.path.relpath(p, d)), open(p, "rb").read())
    zip_n += 1

# release bundles: a zip holding a jar that holds a key (two levels deep).
for i in range(5):
    path = os.path.join(dl, f"release-bundle-{i}.zip")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        with open(jars[(7 * i + 3) % len(jars)], "rb") as src, zipfile.ZipFile(src) as real:
            for info in real.infolist()[:200]:
                z.writestr(zip_info(info.filename), real.read(info))
        k = plant("nested", path, "lib/app.jar!config/application.properties")
        z.writestr(zip_info("config/application.properties"), f"payments.api-key={k}\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zip_info("README.txt"), "Unpack and run bin/app.\n")
        z.writestr(zip_info("lib/app.jar"), inner.getvalue())
    zip_n += 1

# plain text files: a key line appended to some source files.
texts = [p for p in files_under(os.path.join(tree, "cargo-src"))
         if p.endswith((".rs", ".md", ".toml"))]
for p in rng.sample(sorted(texts), 20):
    k = plant("plain", p, "")
    with open(p, "a") as f:
        f.write(f"\n// STRIPE_SECRET_KEY={k}\n")

with open(planted_list, "w") as out:
    for row in planted:
        out.write("\t".join(row) + "\n")
print(f"built {tgz_n} npm .tgz, {jar_n} .jar, {zip_n} .zip; planted "
      + ", ".join(f"{sum(1 for r in planted if r[0] == k)} {k}"
                  for k in ["plain", "tgz", "jar", "zip", "nested"]))
PY

files=$(find "$tree" -type f | wc -l)
bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s+=$1} END{print s}')
arch=$(find "$tree" -type f \( -name '*.tgz' -o -name '*.jar' -o -name '*.zip' \) -printf '%s\n' | awk '{n++; s+=$1} END{print n" .tgz/.jar/.zip files, "s/1e6" MB"}')
echo "tree: $((bytes / 1000000)) MB in $files files; $arch; $(nproc) cores"

# Which planted keys a run finds (by the key itself; the list never enters the tree).
found() {
  "$skguard" scan "$tree" --format json --show-secret "$@" 2>/dev/null >"$work/found.json" || true
  python3 - "$work/planted.tsv" "$work/found.json" "$*" <<'PY'
import json, sys
planted = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
report = json.load(open(sys.argv[2]))
where = {}
for f in report["findings"]:
    where.setdefault(f["secret"], set()).add(f["path"])
parts, total = [], 0
for k in ["plain", "tgz", "jar", "zip", "nested"]:
    rows = [r for r in planted if r[0] == k]
    hit = [r for r in rows if r[1] + ("!" + r[2] if r[2] else "") in where.get(r[3], ())]
    total += len(hit)
    parts.append(f"{k} {len(hit)}/{len(rows)}")
mine = {r[3] for r in planted}
other = sum(1 for f in report["findings"] if f["secret"] not in mine)
s = report["stats"]
print(f"skguard scan {sys.argv[3] or '(default)'}: {total}/{len(planted)} planted keys found at "
      f"their path ({', '.join(parts)}); {other} other findings")
print(f"    {s['files']} files, {s['bytes'] / 1e6:.0f} MB scanned; {s['archives']} archives opened, "
      f"{s['archive_members']} members; {s['archive_bounds']} archive parts not read whole")
PY
}
found
found --archive-depth 0
echo "rg --hidden -a (no ignore files outside a git repository) searches $(rg --files --hidden -a "$tree" | wc -l) files"

# Timed side by side; ROUNDS>1 repeats the block (on a busy machine each round's ratios hold).
for round in $(seq 1 "${ROUNDS:-1}"); do
  echo "load before round $round: $(uptime)"
  hyperfine -N --warmup 1 --runs "$runs" --ignore-failure --export-json "$work/times.json" \
    "$skguard scan $tree" \
    "$skguard scan $tree --archive-depth 0" \
    "rg --hidden -a -c -F -e sk_live_ -e sk_test_ $tree"
  echo "load after round $round: $(uptime)"
  python3 - "$work/times.json" "$skguard" "$tree" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
rg = r[2]
for x in r:
    cpu = x["user"] + x["system"]
    print(f"{x['mean']:6.3f} s ± {x['stddev']:.3f} ({x['mean'] / rg['mean']:.2f}× rg)  "
          f"CPU {cpu:.2f} s: user {x['user']:.2f} + sys {x['system']:.2f} "
          f"({cpu / (rg['user'] + rg['system']):.2f}× rg)  "
          f"{x['command'].replace(sys.argv[2], 'skguard').replace(sys.argv[3], 'TREE')}")
PY
done
