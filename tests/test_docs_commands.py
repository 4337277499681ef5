"""The commands the documentation shows work as written.

Every `make`, `eggemo`, `python` and other shell line of README.md, docs/*.md and the firmware's
READMEs, in code blocks and in inline code, is collected and checked:

- the firmware builds run for real, in a copy of firmware/ beside a small exported CNN student at
  the paths the docs name: from the top of the checkout as written and without the venv's bin on
  PATH, and from firmware/ with their paths made relative to it and the venv's bin on PATH;
- the QEMU commands boot the image they name, and the QEMU session of docs/host.md runs whole
  (make, qemu-system-arm in the background, eggemo monitor --feed --exit-at-end);
- `eggemo` lines go through the real parser of their subcommand (a code-block line must parse
  whole; inline code may leave out required arguments, but each option and choice it names must
  exist), and each subcommand's --help runs with the venv activated and without;
- `python -m MODULE` and `python SCRIPT` lines: their --help runs and lists every option used;
- every input path a line names exists in the checkout, is written by a documented command, or is
  a placeholder (an upper-case name such as DIR or FILE.wav, or one of USER_FILES).

The advice the monitor and `eggemo flash` print (eggemo.flash.firmware_command) is checked the same
way. Doc lines are read from the top of the checkout (the docs say so).
"""
from __future__ import annotations

import argparse
import functools
import glob
import importlib
import importlib.util
import itertools
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "firmware").glob("**/README.md")])
VENV_BIN = Path(sys.executable).parent
BOARDS = sorted(p.name for p in (ROOT / "firmware" / "boards").iterdir() if p.is_dir())

# The programs whose lines are commands (a line of a code block without a shell language, or inline
# code, is one only when it starts with one of these).
PROGRAMS = {"make", "eggemo", ".venv/bin/eggemo", "python", "python3", ".venv/bin/python", "pip",
            "qemu-system-arm", "openocd", "pyocd", "arm-none-eabi-objdump", "mkdir", "ln"}
SHELL_LANGS = {"sh", "bash", "shell", "console"}
# Options whose value is written, not read; options whose value is a path that is read.
OUTPUT_OPTIONS = {"--out", "--record", "--plot", "--csv", "--cache", "BUILD"}
INPUT_OPTIONS = {"--corpus", "--features", "--calib", "--val", "--model", "--teacher", "--config", "--feed",
                 "--emulate", "--replay", "--praat", "--pack", "--noise-file", "-kernel", "-f", "MODEL", "PYTHON"}
# A user's own files, named in the docs as examples of what to give.
USER_FILES = {"utterance.wav", "utt.wav", "best.pt", "train.npz", "val.npz", "corpus.npz", "/dev/ttyACM0"}
# Paths that belong to another tool (OpenOCD's own scripts).
TOOL_FILES = {"openocd": re.compile(r"^(interface|target)/[\w-]+\.cfg$")}
PLACEHOLDER = re.compile(r"^(\.\.\.|[A-Z][A-Z0-9_]*(\.[a-z0-9]+)?/?)$")
PATHLIKE = re.compile(r"/|\.(wav|pt|npz|json|jsonl|csv|png|toml|tflite|elf|bin|py|pack)$")


@dataclass(frozen=True)
class DocLine:
    where: str                  # file:line
    argv: tuple[str, ...]
    whole: bool                 # a code-block line (the whole command); inline code may be a fragment
    block: str = ""             # the code block it is in (file:first line), "" for inline code
    background: bool = False    # ends with &

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


def _split(text: str, variables: dict[str, str]) -> list[list[str]]:
    """A shell line as the commands it runs (split at && and ;), $VAR expanded from the block."""
    for name, value in variables.items():
        text = text.replace(f"${name}", value)
    tokens = shlex.split(text, comments=True)
    cmds, cur = [], []
    for t in tokens:
        if t in ("&&", ";"):
            cmds.append(cur)
            cur = []
        else:
            cur.append(t)
    return [c for c in [*cmds, cur] if c]


def _alternatives(argv: list[str]) -> list[list[str]]:
    """Inline usage as commands: [optional] parts kept, each of a|b (KEY=a|b) tried."""
    argv = [t[1:] if t.startswith("[") else t for t in argv]
    argv = [t[:-1] if t.endswith("]") and "[" not in t else t for t in argv]
    choices = []
    for t in filter(None, argv):
        key, _, value = t.rpartition("=") if re.match(r"^[A-Z]+=", t) else ("", "", t)
        choices.append([f"{key}={v}" if key else v for v in value.split("|")] if "|" in value else [t])
    return [list(c) for c in itertools.product(*choices)]


def _block_lines(rel: str, body: list[tuple[int, str]], shell: bool) -> list[DocLine]:
    out, variables, pending, start = [], {}, "", 0
    for n, line in body:
        if not pending:
            start = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, pending = (pending + line).strip(), ""
        if not text or text.startswith("#") or not (shell or text.split()[0] in PROGRAMS):
            continue
        m = re.match(r"^([A-Za-z_]\w*)=(.*)$", text)
        if m and shell:                           # a shell variable the next lines use
            variables[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) else ""
            continue
        background = text.rstrip().endswith("&") and not text.rstrip().endswith("&&")
        text = text.rstrip().rstrip("&") if background else text
        for argv in _split(text, variables):
            if shell or argv[0] in PROGRAMS:
                out.append(DocLine(f"{rel}:{start}", tuple(argv), True, f"{rel}:{body[0][0]}", background))
    return out


def doc_lines(paths: list[Path] = DOCS) -> list[DocLine]:
    """Every command line of the docs, in order."""
    out = []
    for path in paths:
        rel = str(path.relative_to(ROOT))
        lines = path.read_text().splitlines()
        prose: list[tuple[int, str]] = []
        i = 0
        while i < len(lines):
            m = re.match(r"^\s*```(\w*)\s*$", lines[i])
            if m:
                j, body = i + 1, []
                while j < len(lines) and not lines[j].strip().startswith("```"):
                    body.append((j + 1, lines[j]))
                    j += 1
                if m.group(1) in SHELL_LANGS or m.group(1) == "":
                    out += _block_lines(rel, body, shell=m.group(1) in SHELL_LANGS)
                prose.append((i + 1, ""))
                i = j + 1
                continue
            words = lines[i].split()
            if lines[i].startswith("    ") and words and words[0] in PROGRAMS and (i == 0 or not prose[-1][1].strip()
                                                                                   or prose[-1][1].startswith("    ")):
                out += _block_lines(rel, [(i + 1, lines[i])], shell=False)     # an indented code block
            else:
                prose.append((i + 1, lines[i]))
            i += 1
        text = "\n".join(line for _, line in prose)
        starts = np.cumsum([0] + [len(line) + 1 for _, line in prose])
        for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
            code = " ".join(m.group(1).split())
            try:
                cmds = _split(code, {})
            except ValueError:
                continue
            n = prose[int(np.searchsorted(starts, m.start(), side="right")) - 1][0]
            for argv in cmds:
                if argv[0] in PROGRAMS:
                    out += [DocLine(f"{rel}:{n}", tuple(a), False) for a in _alternatives(argv)]
    return out


LINES = doc_lines()


def _id(d: DocLine) -> str:
    return f"{d.where} {d.text}"[:120]


def _lines(*programs: str) -> list[DocLine]:
    return [d for d in LINES if d.argv[0] in programs]


def test_the_docs_commands_are_found():
    """The reader sees code blocks, indented blocks and inline code (else the tests below check nothing)."""
    texts = {(d.where.split(":")[0], d.text, d.whole) for d in LINES}
    assert ("firmware/README.md", "make -C firmware BOARD=qemu", True) in texts
    assert ("docs/host.md", "make -C firmware BOARD=qemu", False) in texts
    assert any(f == "docs/export.md" and t.startswith("eggemo export") and w for f, t, w in texts)
    assert {d.argv[0] for d in LINES} >= {"make", "eggemo", "python", "qemu-system-arm"}


# --- environments: with the venv activated and without -------------------------------------------

def _env(venv: bool, cwd: Path | None = None) -> dict[str, str]:
    """os.environ with the venv's bin first on PATH (activated) or off it (and no VIRTUAL_ENV)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    path = [p for p in env.get("PATH", "").split(os.pathsep)
            if p and Path(p).resolve() != VENV_BIN.resolve() and not p.endswith("/.venv/bin")]
    env["PATH"] = os.pathsep.join([str(VENV_BIN), *path] if venv else path)
    if venv:
        env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    if cwd is not None:
        env["PWD"] = str(cwd)
    return env


def _sh(text: str, cwd: Path, venv: bool, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command line through bash, as typed in `cwd`."""
    return subprocess.run(["bash", "-c", text], cwd=cwd, env=_env(venv, cwd), capture_output=True, text=True,
                          timeout=timeout)


def _ok(res: subprocess.CompletedProcess, what: str) -> str:
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"{what} failed (exit {res.returncode}):\n{out[-3000:]}"
    return out


# --- eggemo lines: the real parser of each subcommand -------------------------------------------

class _ParseError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _ParseError(message)


@functools.cache
def _subcommand_parser(name: str) -> argparse.ArgumentParser:
    from eggemo.cli import COMMANDS
    p = _Parser(prog=f"eggemo {name}")
    importlib.import_module(COMMANDS[name][0]).add_arguments(p)
    return p


def _options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return dict(p._option_string_actions)


def _check_eggemo(argv: tuple[str, ...], whole: bool) -> None:
    from eggemo.cli import COMMANDS, parse
    if len(argv) == 1:
        return                                              # the command named in prose
    name, rest = argv[1], list(argv[2:])
    assert name in COMMANDS, f"no subcommand `eggemo {name}` (there are {', '.join(COMMANDS)})"
    p = _subcommand_parser(name)
    opts = _options(p)
    for i, t in enumerate(rest):
        if t.startswith("-") and not re.match(r"^-\d", t):
            key = t.split("=")[0]
            assert key in opts, f"`eggemo {name}` has no option {key}"
            action = opts[key]
            if action.choices is not None and i + 1 < len(rest) and not PLACEHOLDER.match(rest[i + 1]):
                assert rest[i + 1] in action.choices, f"{key} {rest[i + 1]}: not one of {list(action.choices)}"
    for i, t in enumerate(rest[:-1]):               # a placeholder for a choice (--board NAME): any choice
        action = opts.get(t)
        if action is not None and action.choices is not None and PLACEHOLDER.match(rest[i + 1]):
            rest[i + 1] = str(next(iter(action.choices)))
    try:
        parse(p, name, rest)
    except _ParseError as exc:
        fragment = ("required" in str(exc)                        # inline code that names an option
                    or (rest and rest[-1].startswith("-") and "expected" in str(exc)))
        if whole or not fragment:
            raise AssertionError(f"`{shlex.join(argv)}` does not parse: {exc}") from None


@pytest.mark.parametrize("d", _lines("eggemo", ".venv/bin/eggemo"), ids=_id)
def test_eggemo_lines_parse(d):
    _check_eggemo(d.argv, d.whole)


@pytest.fixture(scope="module")
def eggemo_help() -> dict[str, str]:
    """`SUB --help` of every documented eggemo subcommand as `.venv/bin/eggemo` without the venv on
    PATH, and as `eggemo` with it activated (the README says both; one light subcommand suffices)."""
    from .host.conftest import require
    require((ROOT / ".venv" / "bin" / "eggemo").is_file(), "the docs' commands need the checkout's .venv: make venv")
    subs = sorted({d.argv[1] for d in _lines("eggemo", ".venv/bin/eggemo") if len(d.argv) > 1})
    runs = [(f".venv/bin/eggemo {sub} --help", False) for sub in subs] + [("eggemo monitor --help", True)]
    return {text: _ok(_sh(text, ROOT, venv, 120), text) for text, venv in runs}


def test_eggemo_help_runs_with_and_without_the_venv(eggemo_help):
    for text, out in eggemo_help.items():
        assert f"usage: eggemo {text.split()[1]}" in out, text


# --- python lines: modules and scripts ----------------------------------------------------------

def _python_target(argv: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(what to run with --help, the rest of the line) of `python -m MOD ...` / `python SCRIPT ...`."""
    if len(argv) >= 3 and argv[1] == "-m":
        return ["-m", argv[2]], list(argv[3:])
    return [argv[1]], list(argv[2:])


@pytest.mark.parametrize("d", [d for d in _lines("python", "python3", ".venv/bin/python") if len(d.argv) > 1],
                         ids=_id)
def test_python_lines_name_options_their_program_has(d):
    """The module or script runs (its --help, with the venv activated for `python`, without it for
    `.venv/bin/python`) and has every option the line uses; pytest lines name folders that exist."""
    target, rest = _python_target(d.argv)
    if target == ["-m", "pytest"]:
        assert all((ROOT / a).exists() for a in rest if not a.startswith("-")), d.text
        return
    venv = d.argv[0] != ".venv/bin/python"
    res = _sh(shlex.join([d.argv[0], *target, "--help"]), ROOT, venv, 120)
    out = _ok(res, f"{shlex.join([d.argv[0], *target])} --help")
    for t in rest:
        if t.startswith("--"):
            assert re.search(rf"(^|[\s\[,]){re.escape(t.split('=')[0])}\b", out), f"{d.text}: no option {t}"


# --- pip lines ----------------------------------------------------------------------------------

@pytest.mark.parametrize("d", _lines("pip"), ids=_id)
def test_pip_lines_install_this_checkout_and_its_extras(d):
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    deps = " ".join([*project["dependencies"], *itertools.chain(*extras.values())])
    for spec in d.argv[2:]:
        if spec.startswith("-"):
            continue
        m = re.match(r"^\.(\[([\w,]+)\])?$", spec)
        if m:                                   # this checkout, with extras
            assert (ROOT / "pyproject.toml").is_file()
            assert set(filter(None, (m.group(2) or "").split(","))) <= set(extras), f"{spec}: unknown extra"
        else:                                   # a package one of the extras names
            assert re.search(rf"(^|\s|\"){re.escape(spec)}\b", deps), \
                f"`{d.text}`: {spec} is not this project (install the checkout: pip install '.[EXTRA]')"


# --- make lines at the top of the checkout ------------------------------------------------------

@pytest.mark.parametrize("d", [d for d in _lines("make") if "-C" not in d.argv and len(d.argv) > 1], ids=_id)
def test_top_level_make_targets_exist(d):
    """`make demo`, `make test`, ...: the target exists (make -n prints what it would do)."""
    _ok(_sh(shlex.join(["make", "-n", *d.argv[1:]]), ROOT, False, 60), d.text)


# --- paths --------------------------------------------------------------------------------------

def _path_args(d: DocLine) -> list[tuple[str, bool]]:
    """(path, written) for each argument of the line that names a file or folder."""
    out, prev = [], ""
    program = d.argv[0]
    for t in d.argv[1:]:
        key, value = "", t
        if re.match(r"^[A-Z]+=", t):
            key, value = t.split("=", 1)
        option = key or prev
        for word in value.split():
            named = option in OUTPUT_OPTIONS or option in INPUT_OPTIONS
            if word.startswith("-") or "://" in word or (key and not named) \
                    or not (named or ("=" not in word and PATHLIKE.search(word))):
                continue
            written = program in ("mkdir", "ln") or prev in OUTPUT_OPTIONS or key in OUTPUT_OPTIONS
            out.append((word, written))
        prev = t if t.startswith("-") else ""
    if program == "make" and "-C" in d.argv:
        out.append((d.argv[d.argv.index("-C") + 1], False))
    return out


def _written_by_docs() -> set[Path]:
    """Every path a documented command writes, and what the firmware build and `eggemo demo` write."""
    out = {Path(p) for d in LINES for p, w in _path_args(d) if w and not PLACEHOLDER.match(Path(p).name)}
    out |= {Path("firmware") / f"build-{b}{m}" for b in BOARDS for m in ("", "-model")}
    out.add(Path(_subcommand_parser("demo").get_default("out")))
    return out


def _input_ok(path: str, program: str, written: set[Path]) -> bool:
    p = Path(path)
    if any(PLACEHOLDER.match(part) for part in p.parts) or path in USER_FILES or p.name in USER_FILES:
        return True
    if program in TOOL_FILES and TOOL_FILES[program].match(path):
        return True
    if glob.glob(str(ROOT / path)):
        return True
    return any(p == w or w in p.parents for w in written)


@pytest.mark.parametrize("d", [d for d in LINES if _path_args(d)], ids=_id)
def test_paths_named_exist_or_are_written_by_a_documented_command(d):
    written = _written_by_docs()
    bad = [p for p, w in _path_args(d) if not w and not _input_ok(p, d.argv[0], written)]
    assert not bad, (f"`{d.text}` ({d.where}) reads {bad}: not in the checkout, not written by any documented "
                     f"command, and not a placeholder (DIR, FILE.wav, ...)")
    # what it writes must not land in the checkout's own files (`--out export/` is the export package)
    ours = [p for p, w in _path_args(d) if w and (ROOT / p).exists() and d.argv[0] not in ("mkdir", "ln")
            and subprocess.run(["git", "check-ignore", "-q", p], cwd=ROOT).returncode != 0]
    assert not ours, f"`{d.text}` ({d.where}) writes into {ours}, which is part of the checkout"


# --- a checkout to run the firmware commands in -------------------------------------------------

DOC_EXPORT = "runs/export"      # where a placeholder export folder (DIR, EXPORT_DIR) is put


def _placeholder(path: str) -> bool:
    return any(PLACEHOLDER.match(part) for part in Path(path).parts)


def _model_dirs() -> set[str]:
    """The export folders the docs' make and monitor lines read (normalised), and DOC_EXPORT."""
    out = {DOC_EXPORT}
    for d in _lines("make", "eggemo"):
        for i, t in enumerate(d.argv):
            value = t[len("MODEL="):] if t.startswith("MODEL=") else (
                d.argv[i + 1] if t == "--model" and i + 1 < len(d.argv) else None)
            if value and not _placeholder(value) and not Path(value).is_absolute():
                out.add(str(Path(value)))
    return out


def _make_checkout(root: Path, export: Path, venv: bool) -> Path:
    """firmware/ copied (its own build folders), the sources the build reads (csrc/, eggemo/,
    export/) linked, the venv linked when `venv`, and `export` copied to every folder in _model_dirs()."""
    shutil.copytree(ROOT / "firmware", root / "firmware", ignore=shutil.ignore_patterns("build*"))
    for name in ("csrc", "eggemo", "export", *([".venv"] if venv else [])):
        (root / name).symlink_to(ROOT / name)
    for rel in _model_dirs():
        if not (root / rel).exists():
            shutil.copytree(export, root / rel)
    return root


@pytest.fixture(scope="module")
def doc_export(tmp_path_factory) -> dict:
    """A small CNN student (random weights), exported by `eggemo export` as the tests/firmware board
    model is; and the synthetic utterances it was calibrated on."""
    from eggemo.host.emulator import missing_tools
    from eggemo.core.feat import STUDENT_INPUTS

    from .host.conftest import export_test_student, require, synthetic_utterances
    require((ROOT / ".venv" / "bin" / "python").is_file(), "the docs' commands need the checkout's .venv: make venv")
    missing = missing_tools()
    require(not missing, f"the firmware commands need {', '.join(missing)}: apt-get install gcc-arm-none-eabi "
                         f"libnewlib-arm-none-eabi qemu-system-arm")
    for mod in ("torch", "tensorflow", "tf_keras", "tflite_micro"):
        require(importlib.util.find_spec(mod) is not None,
                f"exporting the docs' model needs {mod}: pip install '.[train,export]'")
    corpus = synthetic_utterances()
    out = export_test_student(tmp_path_factory.mktemp("doc_model"), corpus, STUDENT_INPUTS, arch="cnn_student",
                              f0_norm="speaker")
    return {"out": out, "corpus": corpus}


@pytest.fixture(scope="module")
def tree(tmp_path_factory, doc_export) -> Path:
    """The checkout the firmware and QEMU lines run in, with the recordings they name."""
    from eggemo.wavio import write_wav

    from .host.conftest import FS, HELD_OUT
    root = _make_checkout(tmp_path_factory.mktemp("checkout"), doc_export["out"], venv=True)
    egg = np.concatenate([doc_export["corpus"][k][1] for k in HELD_OUT[:2]])
    for name in USER_FILES:
        if name.endswith(".wav"):
            write_wav(root / name, FS, egg)
    return root


def _build_dir(argv: list[str] | tuple[str, ...]) -> str:
    vars_ = dict(a.split("=", 1) for a in argv if re.match(r"^[A-Z]+=", a))
    return vars_.get("BUILD", f"build-{vars_.get('BOARD', 'qemu')}{'-model' if vars_.get('MODEL') else ''}")


def _firmware_make_lines() -> dict[tuple[str, ...], DocLine]:
    """The docs' `make -C firmware ...` lines, a placeholder MODEL given DOC_EXPORT, each once."""
    out: dict[tuple[str, ...], DocLine] = {}
    for d in _lines("make"):
        if "-C" in d.argv and not any(_placeholder(a.partition("=")[2]) for a in d.argv
                                      if re.match(r"^(BOARD|BUILD|PYTHON)=", a)):   # BOARD=NAME: a template
            argv = tuple(f"MODEL={DOC_EXPORT}" if a.startswith("MODEL=") and _placeholder(a[6:]) else a
                         for a in d.argv)
            out.setdefault(argv, d)
    return out


def _from_firmware(argv: tuple[str, ...]) -> list[str]:
    """The same make line typed in firmware/: no -C, relative MODEL/PYTHON paths from there."""
    i = argv.index("-C")
    out = []
    for a in [*argv[:i], *argv[i + 2:]]:
        key, _, value = a.partition("=")
        if key in ("MODEL", "PYTHON") and "/" in value and not value.startswith("/"):
            a = f"{key}=../{value}"
        out.append(a)
    return out


@pytest.mark.parametrize("argv", list(_firmware_make_lines()), ids=lambda a: " ".join(a))
def test_firmware_builds_as_documented(tree, argv):
    """From the top as written without the venv on PATH, then from firmware/ with the venv activated
    (the model step, when there is one, runs both times: the project's Python is found either way)."""
    text = shlex.join(argv)
    build = tree / "firmware" / _build_dir(argv)
    model = any(a.startswith("MODEL=") for a in argv)
    shutil.rmtree(build / "model", ignore_errors=True)        # the model step runs (the rest may be made)
    out = _ok(_sh(text, tree, venv=False), f"`{text}` at the top, no venv on PATH")
    assert (build / "eggemo.elf").is_file() and "budget" in out
    if model:
        assert f"{tree}/.venv/bin/python -m eggemo.export.cmodel" in out      # the checkout's venv by default
        shutil.rmtree(build / "model")
    local = shlex.join(_from_firmware(argv))
    out = _ok(_sh(local, tree / "firmware", venv=True), f"`{local}` in firmware/, venv activated")
    assert (build / "eggemo.elf").is_file()
    assert ("eggemo.export.cmodel" in out) == model


def _make_errors(res: subprocess.CompletedProcess) -> list[str]:
    """What the build said on stderr, less make's own lines."""
    return [line for line in res.stderr.splitlines() if line.strip() and not re.match(
        r"^make(\[\d+\])?: (\*\*\* \[|Entering|Leaving)", line)]


def test_firmware_model_step_errors_are_one_line(tree, doc_export, tmp_path):
    export = doc_export["out"]
    trunc, flipped, empty = tree / "bad_trunc", tree / "bad_flip", tree / "bad_empty"
    for d in (trunc, flipped, empty):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
    good = (export / "student_int8.tflite").read_bytes()
    shutil.copy(export / "export_report.json", flipped)        # trunc: no report, so no model id to compare
    (trunc / "student_int8.tflite").write_bytes(good[:len(good) // 3])
    flip = bytearray(good)
    flip[len(flip) * 3 // 4] ^= 0x10                 # a weight: the file still parses
    (flipped / "student_int8.tflite").write_bytes(bytes(flip))
    cases = [("bad_trunc", "truncated or corrupt"), ("bad_flip", "not the model `eggemo export` verified"),
             ("bad_empty", "has no student_int8.tflite"), ("no_such_folder", "no such folder"),
             ("bad_flip/student_int8.tflite", "is a file")]
    for model, what in cases:
        res = _sh(f"make -C firmware BOARD=qemu MODEL={model} BUILD=build-bad", tree, venv=False)
        said = _make_errors(res)
        assert res.returncode != 0 and len(said) == 1 and what in said[0], (model, res.stderr[-2000:])
        assert "Traceback" not in res.stdout + res.stderr

    # a checkout without .venv and no eggemo on PATH: the model step says what to do
    bare = _make_checkout(tmp_path / "bare", export, venv=False)
    if _sh("python3 -c 'import eggemo.export.cmodel'", bare, venv=False).returncode == 0:
        return                                       # PATH's python3 has eggemo: then it is the one used
    res = _sh(f"make -C firmware BOARD=qemu MODEL={DOC_EXPORT}", bare, venv=False)
    said = _make_errors(res)
    assert res.returncode != 0 and len(said) == 1 and "make venv" in said[0] and "PYTHON=" in said[0], res.stderr


# --- QEMU, flashing and the other firmware lines ------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_built(tree: Path, build: str) -> None:
    """make the build folder `build` (build-BOARD[-model]) names in tree, as the docs do."""
    assert build.startswith("build-"), f"{build}: not a folder the firmware build writes"
    board, _, model = build.removeprefix("build-").partition("-")
    text = f"make -C firmware BOARD={board}" + (f" MODEL={DOC_EXPORT}" if model else "")
    _ok(_sh(text, tree, venv=False), text)


class _Background:
    """A documented `... &` line, run in its own process group and stopped at the end."""

    def __init__(self, text: str, cwd: Path):
        self.proc = subprocess.Popen(["bash", "-c", f"exec {text}"], cwd=cwd, env=_env(True, cwd),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
        out, _ = self.proc.communicate(timeout=30)
        return out.decode(errors="replace")


def _qemu_lines() -> list[DocLine]:
    return [d for d in _lines("qemu-system-arm") if d.whole]


@pytest.mark.parametrize("d", _qemu_lines(), ids=_id)
def test_qemu_lines_boot_the_image_they_name(tree, d):
    """The QEMU command as written (its port made free) boots the image and the board says HELLO."""
    kernel = d.argv[d.argv.index("-kernel") + 1]
    _ensure_built(tree, Path(kernel).parent.name)
    port = _free_port()
    qemu = _Background(d.text.replace("4444", str(port)), tree)
    try:
        got, deadline = b"", time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.settimeout(5)
                    got = s.recv(64)
            except OSError:
                time.sleep(0.2)
        assert got, f"no bytes from `{d.text}`: {qemu.stop()[-2000:]}"
    finally:
        qemu.stop()


@pytest.mark.parametrize("block", sorted({d.block for d in LINES if d.background}))
def test_blocks_with_a_background_qemu_run_whole(tree, block):
    """docs/host.md's session: make, qemu-system-arm ... &, eggemo monitor --port ... --feed WAV
    --exit-at-end, typed at the top with the venv activated: the monitor streams and exits 0."""
    port = str(_free_port())
    background = []
    try:
        for d in [d for d in LINES if d.block == block]:
            text = d.text.replace("4444", port)
            if d.background:
                background.append(_Background(text, tree))
                continue
            out = _ok(_sh(text, tree, venv=True, timeout=240), f"`{text}` ({d.where})")
            if d.argv[:2] == ("eggemo", "monitor"):            # the recording reached the model
                assert re.search(r"eggemo monitor: [1-9]\d* predictions?", out), out[-3000:]
    finally:
        for b in background:
            b.stop()


@pytest.mark.parametrize("d", [d for d in _lines("eggemo") if d.argv[1:2] == ("flash",) and len(d.argv) > 2
                               and not any(PLACEHOLDER.match(a) for a in d.argv)], ids=_id)
def test_flash_lines_name_the_image_the_build_writes(tree, d):
    """`eggemo flash --board B ELF`: the ELF the documented build writes passes every check before the
    probe (--check-only: there is no probe here)."""
    elf = next(a for a in d.argv[2:] if a.endswith(".elf"))
    _ensure_built(tree, Path(elf).parent.name)
    _ok(_sh(f"{d.text} --check-only", tree, venv=True, timeout=120), d.text)


@pytest.mark.parametrize("d", _lines("arm-none-eabi-objdump"), ids=_id)
def test_objdump_line_shows_the_board_tag(tree, d):
    elf = d.argv[-1]
    _ensure_built(tree, Path(elf).parent.name)
    out = _ok(_sh(d.text, tree, venv=False, timeout=60), d.text)
    assert "board=" in out


@pytest.mark.parametrize("d", _lines("pyocd"), ids=_id)
def test_pyocd_lines_name_its_commands(d):
    """pyocd comes with the flash extra; the subcommand exists (its --help; installing needs the net)."""
    words = [a for a in d.argv[1:] if not a.startswith("-")][:2]          # `pyocd pack install`
    _ok(_sh(shlex.join(["pyocd", *words, "--help"]), ROOT, True, 60), d.text)


def test_shell_lines_make_what_the_next_lines_read(tmp_path):
    """mkdir / ln lines run (in a scratch folder): a link points into a folder a documented command writes."""
    lines = _lines("mkdir", "ln")
    written = _written_by_docs()
    for d in lines:
        _ok(_sh(d.text, tmp_path, venv=False, timeout=30), d.text)
        if d.argv[:2] == ("ln", "-s"):
            target = Path(os.path.normpath(Path(d.argv[3]).parent / d.argv[2]))
            assert any(target == w or w in target.parents for w in written), f"{d.text}: {target}"


# --- advice the tools print ---------------------------------------------------------------------

@pytest.mark.parametrize("board, model", [("stm32f405", None), ("stm32f405", DOC_EXPORT), ("qemu", DOC_EXPORT)])
def test_firmware_advice_works_when_pasted(tree, monkeypatch, board, model):
    """eggemo.flash.firmware_command (the monitor's and `eggemo flash`'s advice), pasted at the top
    of a checkout: the build runs and the flash step checks the image it built (--check-only)."""
    from eggemo import flash
    monkeypatch.setattr(flash, "FIRMWARE_DIR", tree / "firmware")
    monkeypatch.chdir(tree)
    text = flash.firmware_command(board, model)
    assert text.startswith("make -C firmware ")
    make, _, flash_cmd = text.partition(" && ")
    _ok(_sh(make, tree, venv=False), make)
    assert (tree / flash.firmware_image(board, model)).is_file()
    if board != "qemu":
        assert flash_cmd.startswith("eggemo flash ") and flash_cmd.endswith(flash.firmware_image(board, model))
        _ok(_sh(f"{flash_cmd} --check-only", tree, venv=True, timeout=120), flash_cmd)


def _message_strings(path: Path) -> list[str]:
    """The string literals of a module that are not docstrings, f-string fields shown as {}."""
    import ast
    tree_ = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree_)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr)}
    docs |= {id(v) for n in ast.walk(tree_) if isinstance(n, ast.JoinedStr) for v in n.values}   # parts of f-strings
    out = []
    for n in ast.walk(tree_):
        if isinstance(n, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
            out.append(n.value)
    return out


def test_no_hand_written_firmware_command_in_messages():
    """Every `make -C firmware ...` the tools print names real variables and boards, no BOARD=... or
    MODEL=DIR to fill in (the monitor's advice said both)."""
    found = []
    for path in [*(ROOT / "host").glob("*.py"), *(ROOT / "eggemo").glob("**/*.py")]:
        for text in _message_strings(path):
            for m in re.finditer(r"make -C firmware[^`()\"';,\n]*", text):
                found.append((path.name, m.group(0)))
                for t in m.group(0).split()[3:]:
                    key, _, value = t.partition("=")
                    assert key in ("BOARD", "MODEL", "BUILD", "PYTHON") and value, (path.name, m.group(0))
                    assert key != "BOARD" or value in BOARDS or value == "{}", (path.name, m.group(0))
                    assert not _placeholder(value) and "..." not in value, (path.name, m.group(0))
    assert found
