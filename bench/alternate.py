#!/usr/bin/env python3
"""Times commands side by side, alternating them round after round (so that a change in the
machine's load falls on all of them alike), and prints each one's median and best wall time and
CPU time (user + system, of the command and its children, from wait4).

    python3 bench/alternate.py ROUNDS 'CMD 1' 'CMD 2' ...

Each command is split like a shell would (no pipes, no globs); its output is discarded and its
exit status ignored (skguard exits 1 when it finds keys).
"""
import os
import shlex
import statistics
import subprocess
import sys
import time


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    rounds, commands = int(sys.argv[1]), sys.argv[2:]
    wall = {c: [] for c in commands}
    cpu = {c: [] for c in commands}
    for _ in range(rounds):
        for command in commands:
            start = time.perf_counter()
            child = subprocess.Popen(
                shlex.split(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            _, _, usage = os.wait4(child.pid, 0)
            wall[command].append(time.perf_counter() - start)
            cpu[command].append(usage.ru_utime + usage.ru_stime)
    first = statistics.median(wall[commands[0]])
    for command in commands:
        w, c = wall[command], cpu[command]
        print(
            f"wall {statistics.median(w):.3f} s (best {min(w):.3f}, "
            f"{statistics.median(w) / first:.2f}x the first)  "
            f"CPU {statistics.median(c):.3f} s (best {min(c):.3f})  {command}"
        )


if __name__ == "__main__":
    main()
