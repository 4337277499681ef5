"""The packages depend on each other in one direction: the core under everything, then the data's way.

    eggemo.<module>       shared pieces under everything (boards, options, wavio, flash, ...)
    eggemo.core           the C core's twins (f0, proto, seg, feat, nn); shared pieces only
    eggemo.runtime        export's artefacts read back (report, deployed model, TFLite runtime)
    eggemo.train          corpus -> features -> models
    eggemo.export         checkpoint -> artefacts; may read train's models and configs (train -> export)
    eggemo.host           reads the board and export's artefacts (eggemo.runtime), never train or export code
    eggemo.cli, .demo, .f0_cli    the commands: any layer

Every import counts, the ones inside functions too: a lazy import is still a dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> its folder in the checkout (pyproject's package-dir)
FOLDERS = {"eggemo.train": ROOT / "train", "eggemo.export": ROOT / "export", "eggemo.host": ROOT / "host",
           "eggemo.core": ROOT / "eggemo" / "core", "eggemo": ROOT / "eggemo"}
APP = {"eggemo.cli", "eggemo.demo", "eggemo.f0_cli"}
ALLOWED = {
    "shared": {"shared"},
    "core": {"shared", "core"},
    "runtime": {"shared", "core", "runtime"},
    "train": {"shared", "core", "train"},
    "export": {"shared", "core", "runtime", "train", "export"},
    "host": {"shared", "core", "runtime", "host"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    if module in APP:
        return "app"
    if module == "eggemo.runtime":
        return "runtime"
    if len(parts) >= 2 and parts[1] in ("core", "train", "export", "host"):
        return parts[1]
    return "shared"


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg, folder in FOLDERS.items():
        for p in folder.rglob("*.py"):
            rel = p.relative_to(folder).with_suffix("").parts
            if pkg == "eggemo" and rel[0] == "core":
                continue                                   # listed under eggemo.core
            name = ".".join((pkg, *rel)).removesuffix(".__init__")
            found[name] = p
    return found


def from_imports(module: str, path: Path):
    """(line, absolute eggemo module, the names taken from it) for each `from ... import` of an eggemo
    module in the file, relative ones resolved, anywhere in it."""
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = (".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
                      if node.level else node.module or "")
            if target.split(".")[0] == "eggemo":
                yield node.lineno, target, [a.name for a in node.names]


def imports(module: str, path: Path) -> set[str]:
    """The eggemo modules `module` imports, anywhere in its file."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "eggemo"}
    for _, target, names in from_imports(module, path):
        out.add(target)
        out |= {f"{target}.{n}" for n in names}     # `from pkg import module`
    return out


def edges() -> list[tuple[str, str, str]]:
    """(importer, imported module, imported layer) for every import between layers."""
    mods = modules()
    out = []
    for name, path in mods.items():
        for target in imports(name, path):
            if target in mods or any(m.startswith(target + ".") for m in mods):
                if layer(target) != layer(name):
                    out.append((name, target, layer(target)))
    return out


def test_every_import_goes_the_allowed_way():
    bad = sorted({(a, b) for a, b, lb in edges() if layer(a) != "app" and lb not in ALLOWED[layer(a)]})
    assert not bad, "imports against the layers:\n" + "\n".join(f"  {a} -> {b}" for a, b in bad)


def test_no_import_cycle_between_layers():
    graph: dict[str, set[str]] = {}
    for a, _, lb in edges():
        if layer(a) != "app":
            graph.setdefault(layer(a), set()).add(lb)
    seen: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> list[str] | None:
        seen[n] = 1
        for m in sorted(graph.get(n, ())):
            if seen.get(m) == 1:
                return path + [n, m]
            if m not in seen and (c := visit(m, path + [n])):
                return c
        seen[n] = 2
        return None

    for n in sorted(graph):
        if n not in seen and (cycle := visit(n, [])):
            raise AssertionError("the layers import each other in a loop: " + " -> ".join(cycle))


def test_the_checker_sees_a_lazy_import(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from eggemo.export.runtime import x\n    from ..train import cli\n")
    assert imports("eggemo.host.m", f) == {"eggemo.export.runtime", "eggemo.export.runtime.x", "eggemo.train",
                                           "eggemo.train.cli"}
    assert layer("eggemo.host.m") == "host" and "export" not in ALLOWED["host"]


def test_every_name_imported_from_eggemo_exists():
    """A lazy import inside a function runs only when that path does: a name moved to another module
    would surface as an ImportError in a user's hands. Every `from eggemo.X import name` resolves."""
    import importlib

    missing = []
    for name, path in modules().items():
        for line, target, names in from_imports(name, path):
            try:
                mod = importlib.import_module(target)
            except ImportError as exc:
                missing.append(f"{path.relative_to(ROOT)}:{line}: {target} ({exc})")
                continue
            for n in names:
                if n != "*" and not hasattr(mod, n):
                    try:
                        importlib.import_module(f"{target}.{n}")
                    except ImportError:
                        missing.append(f"{path.relative_to(ROOT)}:{line}: {n} from {target}")
    assert not missing, "imports that do not resolve:\n" + "\n".join(missing)
