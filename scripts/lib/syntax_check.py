#!/usr/bin/env python3
"""Runs the compiler's front end (-fsyntax-only) on every unit of a
compile_commands.json, JOBS at a time, with the unit's own flags.

  python3 scripts/lib/syntax_check.py BUILD/compile_commands.json JOBS [SKIP]

SKIP: units whose object path contains this text are left out (the caller
has just compiled them with the same flags).

Used by scripts/check_thread_safety.sh: with clang, -Wthread-safety and
-Werror, the front end alone gives every diagnostic the check is about.
Prints one line per unit as it finishes and the compiler's output of every
unit that fails; exit status 1 if any unit fails, 2 on bad arguments.
"""

import concurrent.futures
import json
import os
import resource
import shlex
import subprocess
import sys
import time


def args_of(unit):
    return unit.get("arguments") or shlex.split(unit["command"])


def object_of(unit):
    args = args_of(unit)
    return args[args.index("-o") + 1] if "-o" in args else ""


def syntax_only(unit):
    """The unit's command with -c -o OBJ and the dependency-file flags
    replaced by -fsyntax-only: nothing is written."""
    args = args_of(unit)
    out = []
    skip = 0
    for arg in args:
        if skip:
            skip -= 1
            continue
        if arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = 1
        elif arg in ("-c", "-MD", "-MMD"):
            continue
        else:
            out.append(arg)
    return out + ["-fsyntax-only"]


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        units = json.load(f)
    if len(sys.argv) == 4:
        units = [u for u in units if sys.argv[3] not in object_of(u)]
    jobs = max(1, int(sys.argv[2]))
    root = os.getcwd()
    start = time.monotonic()

    def check(unit):
        t0 = time.monotonic()
        result = subprocess.run(syntax_only(unit),
                                cwd=unit["directory"], capture_output=True,
                                text=True)
        return (unit["file"], result.returncode,
                result.stdout + result.stderr, time.monotonic() - t0)

    failed = []
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(check, u) for u in units]
        for done, future in enumerate(
                concurrent.futures.as_completed(futures), 1):
            path, code, output, seconds = future.result()
            name = os.path.relpath(path, root)
            print(f"[syntax {done}/{len(units)} {seconds:5.1f}s] {name}"
                  f"{'' if code == 0 else '  FAILED'}", flush=True)
            if code != 0:
                failed.append(name)
                print(output, end="", flush=True)
            elif output:
                print(output, end="", flush=True)
    elapsed = time.monotonic() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime
    if failed:
        print(f"syntax check: {len(failed)} of {len(units)} units failed "
              f"({elapsed:.0f} s): {' '.join(failed)}; the errors are above",
              file=sys.stderr)
        return 1
    print(f"syntax check: {len(units)} units clean in {elapsed:.0f} s "
          f"({jobs} at a time, {cpu:.0f} s of CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
