#!/usr/bin/env python3
"""Lists the `crate::` edges between the rooms of a crate and fails on any that runs upward.

usage: python3 scripts/room-imports.py CRATE_SRC ROOM[,ROOM...] ROOM ... (lowest room first)

Each argument after the source folder is one level; rooms on the same level (comma-separated)
may not import each other. A file's room is its top-level module under src/ (`data/idx.rs` is
in `data`, `error.rs` in `error`). Doc comments are skipped; `use super::` edges inside a room
are checked for two-way imports between sibling files.
"""
import re
import sys
from pathlib import Path

src = Path(sys.argv[1])
level = {}
for i, group in enumerate(sys.argv[2:]):
    for room in group.split(","):
        level[room] = i

edges, bad, files = set(), [], {}
for path in sorted(src.rglob("*.rs")):
    rel = path.relative_to(src)
    room = rel.parts[0].removesuffix(".rs")
    if room in ("lib", "main"):
        continue
    text = "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("//"))
    for target in sorted(set(re.findall(r"crate::([a-z_0-9]+)", text))):
        if target == room or target not in level:
            continue
        edges.add((room, target))
        if level[target] >= level[room]:
            bad.append(f"{rel}: {room} (level {level[room]}) imports {target} (level {level[target]})")
    # Sibling files of one folder: `super::x` edges.
    if len(rel.parts) > 1:
        me = rel.with_suffix("").as_posix()
        sibs = set(re.findall(r"super::([a-z_0-9]+)", text))
        for group in re.findall(r"super::\{([^}]*)\}", text):
            sibs |= {m for m in re.findall(r"(?:^|,)\s*([a-z_0-9]+)", group)}
        # `crate::room::file` paths into one's own room are sibling edges too.
        sibs |= set(re.findall(r"crate::%s::([a-z_0-9]+)" % room, text))
        for sib in sibs:
            files.setdefault(me, set()).add(rel.parent.joinpath(sib).as_posix())

for (a, b) in sorted(edges):
    print(f"{a} -> {b}")
for a, targets in files.items():
    for b in targets:
        if a in files.get(b, set()):
            bad.append(f"{a} and {b} import each other")
for line in sorted(set(bad)):
    print("UPWARD OR CYCLE:", line)
sys.exit(1 if bad else 0)
