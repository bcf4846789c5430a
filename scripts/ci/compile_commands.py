#!/usr/bin/env python3
"""Prints the build's own compile commands, without output and dependency-file flags, for the
translation units under the given source-tree prefixes (one line each, tab-separated: directory,
compiler, the other flags shlex-joined, the source file). Used by the compile checks of code this
machine cannot build (libtorch2-check.sh, nccl-check.sh).

    compile_commands.py BUILD/compile_commands.json ROOT PREFIX [PREFIX ...]

A PREFIX is a path relative to ROOT ("worker/", "worker/main.cc"); each file is printed once.
"""
import json
import shlex
import sys


def main():
    db, root, prefixes = sys.argv[1], sys.argv[2], sys.argv[3:]
    seen = set()
    for e in json.load(open(db)):
        rel = e["file"][len(root) + 1:] if e["file"].startswith(root + "/") else None
        if not rel or not any(rel.startswith(p) for p in prefixes) or rel in seen:
            continue
        seen.add(rel)
        args = shlex.split(e["command"]) if "command" in e else e["arguments"]
        flags, skip = [], False
        for a in args[1:]:
            if skip:
                skip = False
            elif a in ("-o", "-MF", "-MT", "-MQ"):
                skip = True  # and the value after it
            elif a not in ("-c", "-MD", "-MMD", e["file"]):
                flags.append(a)
        print("\t".join([e["directory"], args[0], shlex.join(flags), e["file"]]))


if __name__ == "__main__":
    main()
