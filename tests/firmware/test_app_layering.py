"""The firmware's portable modules depend on each other in one direction only.

Each ``firmware/app/<x>.c`` depends on the modules whose headers it includes. A cycle (the app
driving the classifier and the classifier sending through the app) means neither can be read, built
or tested without the other; the classifier returns what it has to send and the app sends it.
"""
from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "firmware" / "app"
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)\.h"', re.M)


def app_graph() -> dict[str, set[str]]:
    """module -> the other app modules (those with a .c here) whose header it or its header includes."""
    modules = {p.stem for p in APP.glob("*.c")}
    graph: dict[str, set[str]] = {}
    for m in modules:
        text = "".join(p.read_text() for p in (APP / f"{m}.c", APP / f"{m}.h") if p.exists())
        graph[m] = {h for h in _INCLUDE.findall(text) if h in modules and h != m}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        path.pop()
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_find_cycle_sees_a_loop():
    assert find_cycle({"app": {"emotion"}, "emotion": {"app"}}) == ["app", "emotion", "app"]
    assert find_cycle({"app": {"emotion", "ring"}, "emotion": set(), "ring": set()}) is None


def test_firmware_app_modules_have_no_include_cycle():
    graph = app_graph()
    assert {"app", "emotion", "ring"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "firmware/app modules include each other in a loop: " + " -> ".join(cycle)
