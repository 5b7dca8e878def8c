#!/usr/bin/env python3
"""Writes a `git fast-import` stream: a synthetic history for benchmarks.

    bench/make-history.py COMMITS FILES | git fast-import --quiet

COMMITS commits on main, each editing 1 to 3 of FILES text files (1 to 6 KiB each, source-like
lines), with a merge every 500 commits from a side branch, and a few synthetic keys planted.
Deterministic (seeded).
"""
import random
import sys

commits = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
files = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
rng = random.Random(42)
words = "the of fn let mut self return match impl struct pub use if else for in while loop break config key value data".split()
out = sys.stdout.buffer


def text(n_lines):
    lines = []
    for _ in range(n_lines):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))))
    return ("\n".join(lines) + "\n").encode()


contents = {}
mark = 0


def blob(data):
    global mark
    mark += 1
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n")
    return mark


def commit(branch, n, changes, parent=None, merge=None):
    global mark
    mark += 1
    msg = b"commit %d" % n
    out.write(b"commit refs/heads/%s\nmark :%d\n" % (branch, mark))
    out.write(b"author Bench <bench@example.test> %d +0000\n" % (1600000000 + n))
    out.write(b"committer Bench <bench@example.test> %d +0000\n" % (1600000000 + n))
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    if parent:
        out.write(b"from :%d\n" % parent)
    if merge:
        out.write(b"merge :%d\n" % merge)
    for path, m in changes:
        out.write(b"M 100644 :%d %s\n" % (m, path))
    out.write(b"\n")
    return mark


main = None
side = None
initial = []
for i in range(files):
    path = b"src/mod%03d/file%05d.rs" % (i % 97, i)
    contents[path] = text(rng.randint(20, 80))
    initial.append((path, blob(contents[path])))
main = commit(b"main", 0, initial)
paths = list(contents)
for n in range(1, commits):
    changes = []
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        data = bytearray(contents[path])
        at = rng.randrange(len(data))
        extra = text(rng.randint(1, 3))
        if n % 5000 == 0:
            extra += b'KEY = "sk_live_Bench%06dPlanted0Qw3Er5"\n' % n
        contents[path] = bytes(data[:at] + extra + data[at:])[:6000]
        changes.append((path, blob(contents[path])))
    if n % 500 == 250:
        side = commit(b"side", n, changes, parent=main)
    elif n % 500 == 0 and side:
        main = commit(b"main", n, changes, parent=main, merge=side)
    else:
        main = commit(b"main", n, changes, parent=main)
