"""The boards the firmware builds for: one folder each under firmware/boards/, described by its
board.toml. Everything else reads them from here: the firmware build (which runs this file as a
script, so it needs no installed eggemo), `eggemo flash` (chip, memory, pyOCD target), `eggemo
export` (the memory budget) and the host protocol (the name of each HELLO board id).

    b = board("stm32f405")
    b.id, b.chip, b.memory["ram"].size, b.core_hz
    all_boards()                      # name -> Board, every folder under boards_dir()

Adding a board is adding a folder with a board.toml (the keys below; firmware/README.md says how);
a folder whose board.toml is missing or incomplete is a BoardError naming the file and the key.
EGGEMO_BOARDS=/path/to/boards reads another folder of boards (a copy of the tree, in tests).

stdlib only (tomllib: Python 3.11).
"""
from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BOARD_FILE = "board.toml"
DEFAULT_BOARD = "stm32f405"          # what `eggemo flash` and `eggemo export` take without --board
ENV = "EGGEMO_BOARDS"
# the linker's access attributes of a memory region; a region not named here is data-only
REGION_ACCESS = {"flash": "rx", "ram": "rwx"}


class BoardError(ValueError):
    """A board folder or board name that cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class Region:
    origin: int
    size: int               # bytes; 0: the board has none (the linker script may still name it)

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class FlashTool:
    pyocd_target: str       # pyOCD target type (from a CMSIS pack)
    pyocd_pack: str         # what `pyocd pack install` takes to add that target
    openocd: tuple[str, ...]   # OpenOCD -f scripts: interface, then target


@dataclass(frozen=True)
class Board:
    name: str               # the folder's name: BOARD= of the firmware build, --board of eggemo
    folder: Path
    id: int                 # HELLO board id: on the wire, so never changed or reused
    display_name: str       # what the host calls a board that says this id (default: name)
    description: str
    chip: str
    core_hz: int            # the core clock the board runs on
    fallback_hz: int        # the clock it falls back to when that does not come up (HELLO flag)
    memory: dict[str, Region]
    sources: tuple[str, ...]    # C files, relative to the folder
    include: tuple[str, ...]    # include folders, relative to the folder
    ldscript: str               # relative to the folder
    defines: tuple[str, ...]    # -D flags, without the -D
    flash_tool: FlashTool | None = None   # `eggemo flash` writes it through a probe ([flash])
    qemu_machine: str | None = None       # the QEMU machine the image runs on ([qemu]): emulated

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None

    def path(self, rel: str) -> Path:
        """A path board.toml gives, as a path from where the folder was named."""
        return Path(os.path.normpath(self.folder / rel))


def checkout_boards() -> Path:
    """firmware/boards of the source checkout this module lives in."""
    return Path(__file__).resolve().parents[1] / "firmware" / "boards"


def boards_dir() -> Path:
    """Where the boards are read from: $EGGEMO_BOARDS, else the checkout's firmware/boards, else (an
    installed wheel) the copy of it the wheel carries (package eggemo.boards_data, pyproject.toml)."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = checkout_boards()
    return here if here.is_dir() else Path(__file__).resolve().parent / "boards_data"


# --- reading one board.toml ---------------------------------------------------------------

_TOP = {"id", "display_name", "description", "chip", "clock", "memory", "build", "flash", "qemu"}
_TABLES = {"clock": {"core_hz", "fallback_hz"}, "build": {"sources", "include", "ldscript", "defines"},
           "flash": {"pyocd_target", "pyocd_pack", "openocd"}, "qemu": {"machine"}}
_REQUIRED = {"": ("id", "description", "chip", "clock", "memory", "build"),
             "clock": ("core_hz", "fallback_hz"), "build": ("sources", "ldscript"),
             "flash": ("pyocd_target", "pyocd_pack", "openocd"), "qemu": ("machine",)}


def _where(file: Path, key: str) -> str:
    return f"{file}: {key}" if key else str(file)


def _typed(file: Path, key: str, value, kind, what: str):
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise BoardError(f"{_where(file, key)} must be {what}, not {value!r}")
    return value


def _strings(file: Path, key: str, value, *, nonempty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or (nonempty and not value):
        raise BoardError(f"{_where(file, key)} must be a list of {'one or more ' if nonempty else ''}"
                         f"non-empty strings, not {value!r}")
    return tuple(value)


def _check_keys(file: Path, table: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BoardError(f"{file}: unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join((table + '.' if table else '') + k for k in unknown)}; "
                         f"{'[' + table + '] takes' if table else 'the top level takes'} {', '.join(sorted(allowed))}")
    missing = [k for k in _REQUIRED.get(table, ()) if k not in data]
    if missing:
        raise BoardError(f"{file}: missing {', '.join((table + '.' if table else '') + k for k in missing)} "
                         f"(firmware/README.md, 'Adding a board', lists every key)")


def _region(file: Path, name: str, value) -> Region:
    key = f"memory.{name}"
    if not isinstance(value, dict) or set(value) != {"origin", "size"}:
        raise BoardError(f"{file}: {key} must be {{ origin = ADDRESS, size = BYTES }}, not {value!r}")
    origin = _typed(file, key + ".origin", value["origin"], int, "an address (integer)")
    size = _typed(file, key + ".size", value["size"], int, "a size in bytes (integer)")
    if not 0 <= origin < 1 << 32 or not 0 <= size <= (1 << 32) - origin:
        raise BoardError(f"{file}: {key} ({origin:#x}, {size} bytes) does not fit a 32-bit address space")
    return Region(origin, size)


def load_board(folder: str | Path) -> Board:
    """The board described by the board.toml in folder; BoardError (naming the file and key) when it is
    missing, not TOML, lacks a key, has an unknown one or a value of the wrong kind, or names a
    source or linker script that is not there."""
    folder = Path(folder)
    file = folder / BOARD_FILE
    if not folder.is_dir():
        raise BoardError(f"{folder}: no such board folder")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoardError(f"{folder}: no {BOARD_FILE}; every board folder has one (firmware/README.md, "
                         f"'Adding a board')") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BoardError(f"{file}: not valid TOML ({exc})") from None
    _check_keys(file, "", data, _TOP)
    for table, keys in _TABLES.items():
        if table in data:
            _typed(file, table, data[table], dict, "a table")
            _check_keys(file, table, data[table], keys)
    board_id = _typed(file, "id", data["id"], int, "an integer")
    if not 1 <= board_id <= 255:
        raise BoardError(f"{file}: id {board_id} is not a HELLO board id (1..255, a u8; 0 means none)")
    clock = data["clock"]
    hz = {k: _typed(file, f"clock.{k}", clock[k], int, "a frequency in Hz (integer)") for k in _TABLES["clock"]}
    for k, v in hz.items():
        if v <= 0:
            raise BoardError(f"{file}: clock.{k} must be above 0 Hz, not {v}")
    memory = _typed(file, "memory", data["memory"], dict, "a table of regions")
    regions = {name: _region(file, name, value) for name, value in memory.items()}
    for need in ("flash", "ram"):
        if need not in regions or regions[need].size == 0:
            raise BoardError(f"{file}: memory.{need} is missing or empty; every board has flash and RAM")
    for name in regions:
        if not name.isidentifier() or not name.islower():
            raise BoardError(f"{file}: memory.{name}: a region's name is a lower-case identifier (the linker's "
                             f"region is its upper case)")
    build = data["build"]
    sources = _strings(file, "build.sources", build["sources"], nonempty=True)
    include = _strings(file, "build.include", build.get("include", []))
    defines = _strings(file, "build.defines", build.get("defines", []))
    ldscript = _typed(file, "build.ldscript", build["ldscript"], str, "a path")
    for key, rel in [*(("build.sources", s) for s in sources), ("build.ldscript", ldscript)]:
        if not (folder / rel).is_file():
            raise BoardError(f"{file}: {key} names {rel}, which is not in {folder}")
    for rel in include:
        if not (folder / rel).is_dir():
            raise BoardError(f"{file}: build.include names {rel}, which is not a folder of {folder}")
    for d in defines:
        if d.split("=", 1)[0].startswith("EMO_BOARD_ID") or any(c.isspace() or c in "'\"\\$" for c in d):
            raise BoardError(f"{file}: build.defines {d!r}: a NAME or NAME=VALUE without spaces or quotes "
                             f"(EMO_BOARD_ID is the id's, set by the build)")
    tool = None
    if "flash" in data:
        f = data["flash"]
        tool = FlashTool(_typed(file, "flash.pyocd_target", f["pyocd_target"], str, "a pyOCD target name"),
                         _typed(file, "flash.pyocd_pack", f["pyocd_pack"], str, "a pack part number"),
                         _strings(file, "flash.openocd", f["openocd"], nonempty=True))
    machine = None
    if "qemu" in data:
        machine = _typed(file, "qemu.machine", data["qemu"]["machine"], str, "a QEMU machine (-M) name")
    display = _typed(file, "display_name", data.get("display_name", folder.name), str, "a string")
    return Board(folder.name, folder, board_id, display, _typed(file, "description", data["description"], str,
                                                                  "a string"),
                 _typed(file, "chip", data["chip"], str, "a string"), hz["core_hz"], hz["fallback_hz"], regions,
                 sources, include, ldscript, defines, tool, machine)


# --- every board --------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _all(root: Path) -> dict[str, Board]:
    if not root.is_dir():
        raise BoardError(f"no board folders at {root}: eggemo reads firmware/boards/ of its source checkout, or "
                         f"the copy a wheel carries; reinstall eggemo, or set {ENV}=/path/to/firmware/boards")
    boards = {p.name: load_board(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    seen: dict[int, Board] = {}
    for b in boards.values():
        if b.id in seen:
            raise BoardError(f"{seen[b.id].folder / BOARD_FILE} and {b.folder / BOARD_FILE} both have id {b.id}; "
                             f"a HELLO board id names one board: give one of them an id no other board.toml has")
        seen[b.id] = b
    return boards


def all_boards() -> dict[str, Board]:
    """name -> Board for every folder under boards_dir(), sorted by name; ids are unique."""
    return _all(boards_dir())


def board(name: str) -> Board:
    """The board called name; BoardError listing the boards there are."""
    boards = all_boards()
    if name not in boards:
        raise BoardError(f"unknown board {name!r}; the boards are the folders of {boards_dir()}: "
                         f"{', '.join(boards)}")
    return boards[name]


def hello_names() -> dict[int, str]:
    """HELLO board id -> the name the host shows for it."""
    return {b.id: b.display_name for b in all_boards().values()}


def flashable() -> dict[str, Board]:
    """The boards `eggemo flash` writes (those with a [flash] table)."""
    return {n: b for n, b in all_boards().items() if b.flash_tool is not None}


# --- what the firmware build reads --------------------------------------------------------

def linker_memory(b: Board) -> str:
    """The linker script's MEMORY command for b (the script INCLUDEs it)."""
    lines = [f"/* generated by eggemo/boards.py from {b.folder / BOARD_FILE}: edit that file, not this one */",
             "MEMORY", "{"]
    for name, r in b.memory.items():
        length = f"{r.size // 1024}K" if r.size and r.size % 1024 == 0 else str(r.size)
        lines.append(f"    {name.upper() + ' (' + REGION_ACCESS.get(name, 'rw') + ')':<11} : ORIGIN = 0x{r.origin:08X}, "
                     f"LENGTH = {length}")
    return "\n".join([*lines, "}", ""])


def make_vars(b: Board) -> str:
    """Make variables for the firmware build (paths as the folder was named: relative to firmware/)."""
    defs = [f"EMO_BOARD_ID={b.id}", f"EMO_BOARD_CORE_HZ={b.core_hz}u", f"EMO_BOARD_FALLBACK_HZ={b.fallback_hz}u",
            *b.defines]
    out = [f"# generated by eggemo/boards.py from {b.folder / BOARD_FILE}: edit that file, not this one",
           f"BOARD_ID := {b.id}",
           f"BOARD_CHIP := {b.chip}",
           f"BOARD_SRC := {' '.join(str(b.path(s)) for s in b.sources)}",
           f"BOARD_INC := {' '.join(str(b.path(s)) for s in b.include)}",
           f"LDSCRIPT := {b.path(b.ldscript)}",
           f"BOARD_DEFS := {' '.join('-D' + d for d in defs)}"]
    for name, r in b.memory.items():
        out.append(f"BOARD_{name.upper()}_SIZE := {r.size}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    """python eggemo/boards.py make BOARD_FOLDER OUT_DIR: write OUT_DIR/board.gen.mk and
    OUT_DIR/board_memory.ld (the firmware Makefile runs this each time; a file is rewritten only
    when what it says changes, so make rebuilds only then). Prints nothing when it succeeds, the
    error in one line when it does not."""
    if len(argv) != 3 or argv[0] != "make":
        print("usage: python eggemo/boards.py make BOARD_FOLDER OUT_DIR", file=sys.stderr)
        return 2
    try:
        b = load_board(argv[1])
    except BoardError as exc:
        print(exc, file=sys.stderr)
        return 2
    out = Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("board_memory.ld", linker_memory(b)), ("board.gen.mk", make_vars(b))):
        if not (out / name).is_file() or (out / name).read_text() != text:
            tmp = out / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
