"""Adding a board is adding a folder: a copy of the checkout's firmware tree gets one more board
(qemu's folder with another name, id and RAM size, flashed instead of emulated), and with no other
change the Makefile builds it (its id in HELLO, its memory in the linker's map and the size report),
`eggemo flash` checks its image against its chip, `eggemo export` budgets for its memory and the
host protocol names it. A board.toml that cannot be read stops the build in one line."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eggemo import boards as B

from .conftest import _require_tools

ROOT = Path(__file__).resolve().parents[2]
NEW = "testboard"
NEW_ID = 77
NEW_RAM = 96 * 1024


def _map_memory(map_file: Path) -> dict[str, tuple[int, int]]:
    """region -> (origin, length) from the "Memory Configuration" table of a GNU ld map."""
    text = map_file.read_text()
    table = text[text.index("Memory Configuration"):text.index("Linker script and memory map")]
    return {m[1]: (int(m[2], 16), int(m[3], 16))
            for m in re.finditer(r"^(\w+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", table, re.M) if m[1] != "Name"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """firmware/ copied (no build folders), csrc/ and eggemo/ linked, and boards/testboard added."""
    _require_tools()
    root = tmp_path_factory.mktemp("checkout")
    shutil.copytree(ROOT / "firmware", root / "firmware", ignore=shutil.ignore_patterns("build*"))
    for name in ("csrc", "eggemo"):
        (root / name).symlink_to(ROOT / name)
    boards = root / "firmware" / "boards"
    new = boards / NEW
    shutil.copytree(boards / "qemu", new)
    flash = (boards / "stm32f405" / B.BOARD_FILE).read_text()
    toml = (new / B.BOARD_FILE).read_text()
    toml = re.sub(r"^id = 2\b", f"id = {NEW_ID}", toml, flags=re.M)
    toml = re.sub(r"^display_name = .*\n", "", toml, flags=re.M)
    toml = re.sub(r"^ram = \{ origin = 0x2000_0000, size = 0x2_0000 \}", f"ram = {{ origin = 0x2000_0000, size = {NEW_RAM} }}",
                  toml, flags=re.M)
    toml = toml[:toml.index("[qemu]")] + flash[flash.index("[flash]"):]
    assert f"id = {NEW_ID}" in toml and str(NEW_RAM) in toml and "[qemu]" not in toml
    (new / B.BOARD_FILE).write_text(toml)
    return root


def _make(tree: Path, board: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(tree / "firmware"), f"BOARD={board}", f"PYTHON={sys.executable}"],
                          capture_output=True, text=True, timeout=300)


def test_a_new_board_is_one_folder(tree):
    res = _make(tree, NEW)
    assert res.returncode == 0, res.stderr[-3000:]
    build = tree / "firmware" / f"build-{NEW}"
    assert f"BOARD={NEW}" in res.stdout and "of 96 KiB" in res.stdout and "OVER" not in res.stdout, res.stdout
    # the linker placed the image in the board's memory, as its board.toml gives it
    mem = _map_memory(build / "eggemo.map")
    assert mem["FLASH"] == (0x0800_0000, 1 << 20) and mem["RAM"] == (0x2000_0000, NEW_RAM), mem

    # the host side, in a process that reads this tree's boards
    probe = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from eggemo.flash import BOARDS, check_elf
from eggemo.export.pipeline import mcu_budget
from eggemo.core import proto as P
from tests.firmware.qemu_board import QemuBoard
info = check_elf({str(build / "eggemo.elf")!r}, BOARDS[{NEW!r}])
with QemuBoard(__import__("pathlib").Path({str(build / "eggemo.bin")!r}), timeout=10.0) as b:
    hello = b.hello
print(json.dumps(dict(flash=sorted(BOARDS), ram_size=BOARDS[{NEW!r}].ram_size, image_board=info.board,
                      budget=mcu_budget({NEW!r}), names={{str(k): v for k, v in P.BOARD_NAMES.items()}},
                      hello_board=hello.board, hello_name=hello.board_name)))
"""
    env = {**os.environ, B.ENV: str(tree / "firmware" / "boards")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["flash"] == ["stm32f405", NEW] and got["ram_size"] == NEW_RAM and got["image_board"] == NEW
    assert got["budget"] == {"name": "STM32F405RG", "board": NEW, "flash_bytes": 1 << 20, "ram_bytes": NEW_RAM}
    assert got["names"][str(NEW_ID)] == NEW and got["names"]["1"] == "stm32f405"
    assert (got["hello_board"], got["hello_name"]) == (NEW_ID, NEW)      # the firmware's id, the host's name

    # and the command line: `eggemo flash` and `eggemo export` offer it
    cli = [str(Path(sys.executable).parent / "eggemo")]
    res = subprocess.run([*cli, "flash", "--check-only", "--board", NEW, str(build / "eggemo.elf")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0 and f"(built with BOARD={NEW})" in res.stdout and f"RAM" in res.stdout, res.stderr
    res = subprocess.run([*cli, "export", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert re.search(rf"--board {{[^}}]*\b{NEW}\b", res.stdout), res.stdout


def test_the_checkout_itself_does_not_know_the_new_board():
    """The copy's folder made the difference, nothing in the checkout."""
    assert NEW not in B.all_boards()


def test_a_board_toml_that_cannot_be_read_stops_the_build_in_one_line(tree):
    broken = tree / "firmware" / "boards" / "broken"
    shutil.copytree(tree / "firmware" / "boards" / NEW, broken)
    toml = broken / B.BOARD_FILE
    toml.write_text(toml.read_text().replace("core_hz", "core_mhz"))
    try:
        res = _make(tree, "broken")
    finally:
        shutil.rmtree(broken)
    said = [line for line in res.stderr.splitlines()
            if line.strip() and not re.match(r"^make(\[\d+\])?: (\*\*\* \[|Entering|Leaving)", line)]
    assert res.returncode != 0 and len(said) == 1, res.stderr
    assert "*** firmware: boards/broken/board.toml: " in said[0] and "unknown key clock.core_mhz" in said[0] and "Traceback" not in res.stderr
