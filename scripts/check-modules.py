#!/usr/bin/env python3
"""Checks the shape of the worker and engine crates (issue 26), as the test command does:

- every source file under src/ is at most 700 lines (tests may sit in a file of their own beside the
  code they test: a `tests.rs` is exempt);
- no import circle: between the crate's top-level modules, and between the files of a module folder
  (a file using its folder's `mod.rs` is a room using its house, not a circle);
- no upward import: the crate's module map (the `//! - [`module`]…` lines of `src/lib.rs`, lowest
  first) is the order, and a module may use only modules listed before it, or on its own line; every
  module but the test-only ones is on the map.

  scripts/check-modules.py     check, printing each module's imports; exit 1 on any violation
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["engine", "worker"]
MAX_LINES = 700


def module_of(src: Path, file: Path) -> tuple:
    """The module path of a source file: src/a/b.rs → (a, b); src/a/mod.rs → (a,)."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def imports(text: str, module: tuple, known: set) -> set:
    """The modules a file names through `crate::` or `super::` paths (comments ignored)."""
    code = "\n".join(line.split("//")[0] for line in text.splitlines())
    found = set()
    for match in re.finditer(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)", code):
        base = () if match.group(1) == "crate" else module[:-1]
        path = base + tuple(match.group(2).strip(":").split("::"))
        while path and path not in known:
            path = path[:-1]
        if path:
            found.add(path)
    # `use super::{a, b}` and `use crate::{a, b::c}` name several modules at once.
    for match in re.finditer(r"\buse (crate|super)::\{([^}]*)\}", code):
        base = () if match.group(1) == "crate" else module[:-1]
        for item in match.group(2).split(","):
            head = item.strip().split("::")[0]
            if base + (head,) in known:
                found.add(base + (head,))
    return found


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return result


def module_map(lib: str) -> dict:
    """Each top-level module's line in the crate's module map (0 = lowest)."""
    levels = {}
    for level, line in enumerate(l for l in lib.splitlines() if l.startswith("//! - ")):
        for name in re.findall(r"\[`([a-z_]+)`\]", line.split(":")[0]):
            levels[name] = level
    return levels


def check(crate: str) -> list:
    src = ROOT / crate / "src"
    files = {module_of(src, f): f for f in sorted(src.rglob("*.rs")) if f != src / "main.rs"}
    known = set(files)
    problems = []
    for module, file in files.items():
        lines = file.read_text().count("\n")
        if lines > MAX_LINES and file.name != "tests.rs":
            problems.append(f"{file.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})")
    uses = {m: imports(f.read_text(), m, known) for m, f in files.items() if m}
    top = {}
    for module, used in uses.items():
        edges = top.setdefault(module[0], set())
        edges.update(u[0] for u in used if u[0] != module[0])
    lib = (src / "lib.rs").read_text()
    levels = module_map(lib)
    test_only = set(re.findall(r"#\[cfg\((?:test|all\(test[^]]*)\)\]\s*(?:pub )?mod ([a-z_]+);", lib))
    for module in top:
        if module not in levels and module not in test_only:
            problems.append(f"{crate}: module `{module}` is missing from the module map in src/lib.rs")
    for module, used in sorted(top.items()):
        print(f"{crate}::{module} uses {', '.join(sorted(used)) or 'nothing of the crate'}")
        for other in used:
            if module in levels and other in levels and levels[other] > levels[module]:
                problems.append(f"{crate}: `{module}` uses `{other}`, which the module map lists above it")
    for component in cycles(top):
        problems.append(f"{crate}: import circle among {', '.join(component)}")
    # Inside each folder: the files' imports of each other, the folder's mod.rs left out.
    folders = {m[:-1] for m in files if len(m) > 1}
    for folder in folders:
        siblings = {m: {u for u in uses[m] if u[:-1] == folder and len(u) == len(m)}
                    for m in uses if m[:-1] == folder and len(m) == len(folder) + 1}
        for component in cycles(siblings):
            names = ", ".join("::".join(m) for m in component)
            problems.append(f"{crate}: import circle among {names}")
    return problems


def main():
    problems = [p for crate in CRATES for p in check(crate)]
    for problem in problems:
        print(f"check-modules: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-modules: {', '.join(CRATES)}: no circle, no upward import, no file over {MAX_LINES} lines")


if __name__ == "__main__":
    main()
