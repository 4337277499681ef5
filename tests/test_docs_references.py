"""Docs that stay true: every file path and every `emo_` name that the docs, the README and the
code's comments cite exists.

A name counts as existing when code (C with its comments stripped, Python outside comments and
docstrings) uses it; a path when it resolves from the repo root, from the citing file's folder or
from one of the folders a reader would look in. Files that a build or an export writes are named
in GENERATED, and each of those must be a name the code really writes.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".git", "__pycache__", "node_modules", ".pytest_cache", ".hypothesis"}
TOP = ("csrc", "docs", "firmware", "train", "export", "host", "eggemo", "tests", "benchmarks", "tools",
       "configs", "studies", "briefs")
# what `eggemo export`, `eggemo train` and the firmware build write: cited by name, never committed
GENERATED = ("emo_model.c", "emo_model.h", "emo_model_data.c", "emo_model_data.h", "export_report.md",
             "export_report.json", "eggemo.elf", "student_int8.tflite", "student_16x8.tflite", "student_float.tflite",
             "best.pt", "log.csv", "test_results.json", "test_confusion.png", "test_tsne.png", "agreement.json",
             "corpus.json", "manifest.csv", "speakers.csv", "board_memory.ld", "board.gen.mk", "eggemo.bin",
             "budget.json", "budget.md", "budget.png", "crosscorpus.json", "crosscorpus.md", "crosscorpus.png")
# where a reader looks for a path given without its folder
BASES = ("", "docs", "firmware", "firmware/app", "csrc", "eggemo",
         *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "firmware" / "boards").iterdir() if p.is_dir()),
         "train", "export", "host", "benchmarks")

C_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
NAME = re.compile(r"\bemo_[a-z0-9_]+\b")
EXT = r"(?:py|c|h|md|toml|ld|mk|json|csv|png|txt|elf|tflite)"
PATH = re.compile(rf"(?<![\w./-])((?:\.{{1,2}}/)?(?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)*\.{EXT}|(?:{'|'.join(TOP)})/"
                  rf"(?:[\w.-]+/)*[\w.-]*)(?![\w/-])")
PLACEHOLDER = re.compile(r"[A-Z]{3,}|[<>*{}$]|^(?:out|runs|build|session|tmp|/|~|http|linux/|_)|-$")


def tree(*suffixes: str):
    for p in sorted(ROOT.rglob("*")):
        rel = p.relative_to(ROOT).parts
        if any(part in SKIP or part.startswith("build") for part in rel) or not p.is_file():
            continue
        if p.suffix in suffixes or p.name in suffixes:
            yield p


def c_parts(text: str) -> tuple[str, str]:
    """(code, comments) of C, a linker script or a Makefile fragment."""
    if not text.lstrip().startswith(("/*", "#include", "//")) and "/*" not in text:
        code = "\n".join(l.split("#", 1)[0] for l in text.splitlines())           # make: # comments
        return code, "\n".join(l.split("#", 1)[1] for l in text.splitlines() if "#" in l)
    return C_COMMENT.sub(" ", text), " ".join(m.group(0) for m in C_COMMENT.finditer(text))


def py_parts(text: str) -> tuple[str, str]:
    """(code, comments) of Python: code is every identifier and non-docstring string; comments the
    comments and docstrings."""
    tree_ = ast.parse(text)
    docs = {}
    for n in ast.walk(tree_):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docs[id(first.value)] = first.value.value
    code = []
    for n in ast.walk(tree_):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
            code.append(n.value)
        elif isinstance(n, ast.Name):
            code.append(n.id)
        elif isinstance(n, ast.Attribute):
            code.append(n.attr)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            code.append(n.name)
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
    return "\n".join(code), "\n".join([*docs.values(), *comments])


def sources() -> list[tuple[Path, str, str]]:
    """(file, code, cited text) for every C, make, Python and Markdown file."""
    out = []
    for p in tree(".c", ".h", ".ld", ".mk", "Makefile"):
        out.append((p, *c_parts(p.read_text(errors="replace"))))
    for p in tree(".py"):
        if p != Path(__file__).resolve():            # this file's own examples of stale names
            out.append((p, *py_parts(p.read_text(errors="replace"))))
    for p in tree(".md"):
        out.append((p, "", p.read_text(errors="replace")))
    return out


def cited_paths(p: Path, text: str) -> list[str]:
    if p.suffix == ".md":
        spans = re.findall(r"`([^`\n]+)`|\]\(([^)\s#]+)", text)
        chunks = [a or b for a, b in spans]
    else:
        chunks = [text]
    return [t.rstrip(".,:;") for c in chunks for t in PATH.findall(c)]


def resolves(token: str, cited_in: Path) -> bool:
    if PLACEHOLDER.search(token) or Path(token).name in GENERATED:
        return True
    bases = [cited_in.parent, *(ROOT / b for b in BASES)]
    if any((b / token).exists() for b in bases):
        return True
    head, _, attr = token.rpartition(".")              # export/cmodel.run_reference: a module and a name in it
    if "/" in head and attr.isidentifier():
        module = ROOT / f"{head}.py"
        return module.exists() and re.search(rf"^\s*(?:def|class)\s+{attr}\b|^{attr}\s*=", module.read_text(), re.M)
    return False


def test_every_cited_path_exists():
    missing = sorted({(str(p.relative_to(ROOT)), t) for p, _, text in sources() for t in cited_paths(p, text)
                      if not resolves(t, p)})
    assert not missing, "cited paths that do not exist:\n" + "\n".join(f"  {f}: {t}" for f, t in missing)


def test_every_cited_emo_name_exists():
    srcs = sources()
    known = {n for _, code, _ in srcs for n in NAME.findall(code)}
    missing = sorted({(str(p.relative_to(ROOT)), n) for p, _, text in srcs for n in NAME.findall(text)
                      if n not in known})
    assert not missing, "cited emo_ names that no code defines or uses:\n" + "\n".join(
        f"  {f}: {n}" for f, n in missing)


def test_generated_names_are_what_the_code_writes():
    code = "\n".join(c for _, c, _ in sources())
    for name in GENERATED:
        stem = name.rsplit(".", 1)[0]
        assert name in code or stem in code, f"{name} is listed as generated, but no code writes it"


def test_the_checks_catch_a_stale_reference(tmp_path):
    doc = tmp_path / "x.md"
    assert cited_paths(doc, "see `briefs/student_spec.md` and [f0](docs/f0.md)") == ["briefs/student_spec.md",
                                                                                       "docs/f0.md"]
    assert not resolves("briefs/student_spec.md", doc) and resolves("docs/f0.md", doc)
    assert resolves("export/cmodel.quantize_multiplier", doc) is not False
    assert not resolves("export/cmodel.no_such_function", doc)
    assert NAME.findall("(emo_nn_quantize_multiplier in Python)") == ["emo_nn_quantize_multiplier"]
