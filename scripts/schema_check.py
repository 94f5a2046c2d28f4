#!/usr/bin/env python3
"""Checks that two tasb install scripts create the same objects: schema_check.py FROZEN GENERATED.

pgrx writes its schema as blocks ("connected objects") in an order it does not keep stable, with
comments that name source lines. Both are left out: each block is compared without comments and
with whitespace collapsed, as a multiset. Exits 1 and prints the blocks that differ otherwise.
"""
import re
import sys
from collections import Counter

BEGIN = "/* <begin connected objects> */"
END = "/* </end connected objects> */"


def blocks(path):
    text = open(path, encoding="utf-8").read()
    out = Counter()
    for block in text.split(BEGIN):
        block = block.replace(END, "")
        block = re.sub(r"/\*.*?\*/", " ", block, flags=re.S)
        lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
        normal = " ".join(" ".join(lines).split())
        if normal:
            out[normal] += 1
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    frozen, generated = (blocks(p) for p in sys.argv[1:])
    if frozen == generated:
        print(f"schema: {sys.argv[1]} matches {sys.argv[2]} ({sum(frozen.values())} blocks)")
        return
    for name, only in (("only in " + sys.argv[1], frozen - generated),
                       ("only in " + sys.argv[2], generated - frozen)):
        for block in only:
            print(f"{name}:\n    {block[:2000]}\n")
    print("schema: the generated SQL differs from the frozen script of this version.\n"
          "A change to the SQL surface needs a new version: bump version in Cargo.toml, write\n"
          "sql/tasb--OLD--NEW.sql, and freeze the generated script as sql/tasb--NEW.sql (sql/README.md).")
    sys.exit(1)


if __name__ == "__main__":
    main()
