#!/usr/bin/env python3
"""Checks that the top-level modules of src/ depend on each other in one direction only.

The order is the bullet list under "# Layout" in src/lib.rs, bottom first: a module may use
(`crate::<module>`) only modules listed before it. Test code is skipped (files named tests*.rs or
*_tests.rs, and items under #[cfg(test)]). Prints each edge that points up, and exits 1 if any
does or if a module is missing from the list. Usage: module_layers.py [SRC_DIR]
"""
import os, re, sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"

order = []
layout = open(os.path.join(src, "lib.rs"), encoding="utf-8").read().split("//! # Layout", 1)[1]
for line in layout.splitlines()[1:]:
    if not line.startswith("//!"):
        break
    m = re.match(r"//! - \[`(\w+)`\]", line)
    if m:
        order.append(m.group(1))
rank = {name: i for i, name in enumerate(order)}


def without_tests(text):
    """The text without `#[cfg(test)]` items (a `mod x;`, or any item up to its closing brace)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        j = m.end()
        while j < len(text) and text[j] not in ";{":
            j += 1
        if j < len(text) and text[j] == "{":
            depth = 0
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
        else:
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


problems = []
for root, _, files in os.walk(src):
    for f in sorted(files):
        if not f.endswith(".rs") or f.startswith("tests") or f.endswith("_tests.rs"):
            continue
        path = os.path.join(root, f)
        rel = os.path.relpath(path, src)
        top = rel.split(os.sep)[0]
        top = top[:-3] if top.endswith(".rs") else top
        if top in ("lib", "main"):
            continue
        if top not in rank:
            problems.append(f"{top} is not in the Layout list of {src}/lib.rs")
            rank[top] = -1
            continue
        text = re.sub(r"//[^\n]*", "", without_tests(open(path, encoding="utf-8").read()))
        used = set(re.findall(r"\bcrate::(\w+)", text))
        for group in re.findall(r"\buse crate::\{([^;]*)\}", text, re.S):
            used.update(re.findall(r"(?:^|[,{\s])(\w+)(?=::|\s*[,}]|$)", group))
        for dst in sorted(used):
            if dst in rank and dst != top and rank[dst] > rank[top]:
                problems.append(f"{rel}: {top} uses {dst}, which is above it")

for p in sorted(set(problems)):
    print(p)
print(f"{len(set(problems))} layering problems")
sys.exit(1 if problems else 0)
