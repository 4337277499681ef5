"""A board is a folder: every firmware/boards/<board>/ has a README and a complete board.toml, which
eggemo.boards reads for everyone (build, flash, export, protocol); a folder that lacks a key, or
has one it should not, is refused naming the file and the key."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from eggemo import boards as B
from eggemo.cli import main as eggemo

ROOT = Path(__file__).resolve().parents[1]
BOARDS_DIR = ROOT / "firmware" / "boards"
FOLDERS = sorted(p for p in BOARDS_DIR.iterdir() if p.is_dir())
# what a board's README says, each under a heading of its own
README_HEADINGS = ("wiring", "clock", "flash", "tested")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_board_folder_has_a_readme_and_a_complete_board_toml(folder):
    b = B.load_board(folder)                    # every required key, of the right kind, its files there
    assert b.name == folder.name and b.description and b.chip
    assert b.memory["flash"].size > 0 and b.memory["ram"].size > 0 and b.core_hz > 0 and b.fallback_hz > 0
    assert b.flash_tool is not None or b.emulated, f"{folder.name}: neither flashed ([flash]) nor emulated ([qemu])"
    readme = folder / "README.md"
    assert readme.is_file(), f"{folder.name} has no README.md"
    headings = [h.lower() for h in re.findall(r"^##+ (.+)$", readme.read_text(), re.M)]
    for topic in README_HEADINGS:
        assert any(topic in h for h in headings), f"{readme}: no heading about {topic} (has {headings})"


def test_the_linker_scripts_take_their_memory_from_board_toml():
    """No linker script has a MEMORY command of its own: each INCLUDEs the one the build writes."""
    for b in B.all_boards().values():
        script = b.path(b.ldscript).read_text()
        code = re.sub(r"/\*.*?\*/", " ", script, flags=re.S)
        assert "INCLUDE board_memory.ld" in code and not re.search(r"\bMEMORY\b", code), b.ldscript
        memory = B.linker_memory(b)
        for name, region in b.memory.items():
            assert re.search(rf"{name.upper()} \(\w+\)\s*: ORIGIN = 0x{region.origin:08X}, LENGTH = \w+", memory)


def test_ids_are_the_wire_protocols():
    """The ids HELLO carries for the two boards there were before board.toml (the protocol's values)."""
    boards = B.all_boards()
    assert {n: b.id for n, b in boards.items() if n in ("stm32f405", "qemu")} == {"stm32f405": 1, "qemu": 2}
    assert len({b.id for b in boards.values()}) == len(boards)
    from eggemo.core import proto as P
    assert P.BOARD_NAMES == {b.id: b.display_name for b in boards.values()}
    assert P.BOARD_NAMES[P.BOARD_QEMU] == "qemu-netduinoplus2" and P.BOARD_NAMES[P.BOARD_STM32F405] == "stm32f405"


def _copy(tmp_path: Path, name: str = "qemu") -> Path:
    """A boards folder in tmp_path holding a copy of the checkout's (qemu's board.toml names stm32f405's files)."""
    root = tmp_path / "boards"
    shutil.copytree(BOARDS_DIR, root, ignore=shutil.ignore_patterns("build*"))
    return root / name


@pytest.mark.parametrize("edit, said", [
    (lambda t: t.replace("fallback_hz", "#"), "missing clock.fallback_hz"),
    (lambda t: t.replace("[qemu]", "[qemu]\nmachnie = 'x'"), "unknown key qemu.machnie"),
    (lambda t: t.replace("id = 2", "id = 'two'"), "id must be an integer"),
    (lambda t: t.replace("id = 2", "id = 300"), "not a HELLO board id"),
    (lambda t: t.replace("id = 2", "id = 1"), "both have id 1"),
    (lambda t: t.replace('"board.c"', '"bord.c"'), "build.sources names bord.c"),
    (lambda t: re.sub(r"ram = \{[^}]*\}", "ram = { origin = 0x2000_0000 }", t), "memory.ram must be"),
    (lambda t: t.replace("[clock]", "[clock"), "not valid TOML"),
])
def test_a_broken_board_toml_is_named_with_its_key(tmp_path, edit, said):
    folder = _copy(tmp_path)
    toml = folder / B.BOARD_FILE
    toml.write_text(edit(toml.read_text()))
    with pytest.raises(B.BoardError, match=re.escape(said)) as exc:
        B._all(folder.parent)
    assert str(toml) in str(exc.value) and "\n" not in str(exc.value)


def test_a_folder_without_board_toml_is_refused_by_the_cli_in_one_line(tmp_path, monkeypatch, capsys):
    folder = _copy(tmp_path)
    (folder / B.BOARD_FILE).unlink()
    monkeypatch.setenv(B.ENV, str(folder.parent))
    assert eggemo(["export", "--help"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("eggemo export: ") and f"{folder}: no board.toml" in err and "\n" not in err


def test_an_unknown_board_lists_the_boards():
    with pytest.raises(B.BoardError, match="unknown board 'nope'.*qemu, stm32f405"):
        B.board("nope")
