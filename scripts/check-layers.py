#!/usr/bin/env python3
"""check-layers.py: the include graph of src/ has no upward edge and no cycle.

The folders of src/ are layers, lowest first (LAYERS).  A module is a .c
with the .h beside it; it may include headers of its own folder or of a
folder below.  Prints each upward include and each cycle, exits 1 if any.
"""
import pathlib
import re
import sys

LAYERS = ["base", "files", "model", "text", "pg", "learn", "http", "cmd"]
src = pathlib.Path(__file__).resolve().parent.parent / "src"
edges, bad = {}, []
for f in sorted(src.glob("*/*.[ch]")):
    layer, mod = f.parent.name, f"{f.parent.name}/{f.stem}"
    if layer not in LAYERS:
        bad.append(f"{f.relative_to(src)}: folder {layer} is not a layer")
        continue
    edges.setdefault(mod, set())
    for n, line in enumerate(f.read_text().splitlines(), 1):
        m = re.match(r'#include "([a-z]+)/([a-z_]+)\.h"', line)
        if not m or f"{m[1]}/{m[2]}" == mod:
            continue
        if m[1] not in LAYERS or LAYERS.index(m[1]) > LAYERS.index(layer):
            bad.append(f"src/{f.relative_to(src)}:{n}: {layer} includes {m[1]}/{m[2]}.h, a layer above")
        edges[mod].add(f"{m[1]}/{m[2]}")

# cycles: depth-first search, a grey node met again closes one
state, stack = {}, []


def visit(m):
    state[m] = "grey"
    stack.append(m)
    for n in sorted(edges.get(m, ())):
        if state.get(n) == "grey":
            bad.append("cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
        elif n not in state:
            visit(n)
    stack.pop()
    state[m] = "black"


for m in sorted(edges):
    if m not in state:
        visit(m)
for b in bad:
    print(b)
n = sum(len(v) for v in edges.values())
print(f"check-layers: {len(edges)} modules, {n} includes between them, "
      f"{len(bad)} problem{'s' if len(bad) != 1 else ''}")
sys.exit(1 if bad else 0)
