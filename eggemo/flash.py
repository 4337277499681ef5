"""`eggemo flash`: check a firmware ELF, then write it to the board through a debug probe.

    eggemo flash --board stm32f405 firmware/build-stm32f405/eggemo.elf

The image is checked first (ARM, vector table and entry in flash, fits the chip, and built
for this board: the firmware Makefile writes BOARD into a .eggemo.board section, and the
QEMU build, which has no ADC code path, is refused), so a wrong file never reaches the probe. Programming uses pyOCD's Python API with an
ST-Link or CMSIS-DAP probe. OpenOCD works too: see the board's README (firmware/boards/stm32f405/README.md).

The boards it flashes are those whose firmware/boards/<board>/board.toml has a [flash] table
(eggemo.boards): chip, memory map and pyOCD target all come from there.
"""
from __future__ import annotations

import argparse
import shlex
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from eggemo import boards as B
from eggemo.options import add_board

EM_ARM = 40
ET_EXEC = 2
PT_LOAD = 1
FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"   # in the source checkout
BOARD_SECTION = ".eggemo.board"    # "board=NAME\n", added by firmware/Makefile; not loaded, never flashed


@dataclass(frozen=True)
class Chip:
    name: str
    board: str              # firmware/boards/ name of the build that runs on this chip
    pyocd_target: str       # pyOCD target type (from a CMSIS pack)
    pack_hint: str          # what `pyocd pack install` needs
    flash_base: int
    flash_size: int
    ram_base: int
    ram_size: int
    ccm_base: int = 0       # core-coupled RAM (size 0: none); the image uses it, the probe never writes it
    ccm_size: int = 0


def chip_of(board: B.Board) -> Chip:
    """The Chip a flashable board's board.toml describes (its [flash] table and memory map)."""
    if board.flash_tool is None:
        raise B.BoardError(f"board {board.name} has no [flash] table in {board.folder / B.BOARD_FILE}: "
                           f"it is not written through a probe")
    flash, ram = board.memory["flash"], board.memory["ram"]
    ccm = board.memory.get("ccm", B.Region(0, 0))
    return Chip(board.chip, board.name, board.flash_tool.pyocd_target, board.flash_tool.pyocd_pack,
                flash.origin, flash.size, ram.origin, ram.size, ccm.origin, ccm.size)


BOARDS = {name: chip_of(b) for name, b in B.flashable().items()}


class FirmwareError(ValueError):
    """The image or the probe set-up is not usable; the message says what to do."""


@dataclass(frozen=True)
class ImageInfo:
    entry: int
    initial_sp: int
    reset_vector: int
    flash_bytes: int        # bytes written to flash (code, constants, .data image)
    ram_bytes: int          # RAM the image occupies (stack, .data, .bss)
    board: str              # the BOARD it was built for (its .eggemo.board section)
    ccm_bytes: int = 0      # CCM the image reserves (the build with a model keeps its buffers there)


def _in(addr: int, size: int, base: int, limit: int) -> bool:
    return base <= addr and addr + size <= base + limit


def board_tag(data: bytes) -> str | None:
    """The board a 32-bit little-endian ELF was built for (its .eggemo.board section), or None
    when it has none or the section table cannot be read."""
    try:
        e_shoff, = struct.unpack_from("<I", data, 32)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 46)
        if e_shoff == 0 or e_shentsize < 40 or e_shstrndx >= e_shnum:
            return None
        sections = [struct.unpack_from("<IIIIII", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
        str_off, str_size = sections[e_shstrndx][4], sections[e_shstrndx][5]
        names = data[str_off:str_off + str_size]
        for name, _, _, _, offset, size in sections:
            end = names.find(b"\0", name)
            if names[name:end if end >= 0 else None].decode("ascii", "replace") == BOARD_SECTION:
                text = data[offset:offset + size].decode("ascii", "replace").strip()
                return text[len("board="):] if text.startswith("board=") else None
    except struct.error:
        return None
    return None


def _typed(p: Path) -> str:
    """p as typed from the current folder: relative under it, else absolute; quoted for a shell."""
    p, here = p.resolve(), Path.cwd().resolve()
    return shlex.quote(str(p.relative_to(here)) if p.is_relative_to(here) else str(p))


def firmware_image(board: str = "stm32f405", model: str | Path | None = None) -> str:
    """The ELF that firmware_command(board, model) builds, as typed from the current folder."""
    return _typed(FIRMWARE_DIR / f"build-{board}{'-model' if model is not None else ''}" / "eggemo.elf")


def firmware_command(board: str = "stm32f405", model: str | Path | None = None) -> str:
    """The shell command that builds this eggemo's firmware for `board` (with the model an `eggemo
    export` folder deploys) and, for the chip, flashes it, with paths that work from the current
    folder: `make -C firmware BOARD=... [MODEL=...] [&& eggemo flash --board ... ELF]`."""
    make = f"make -C {_typed(FIRMWARE_DIR)} BOARD={board}" + (f" MODEL={_typed(Path(model))}" if model is not None
                                                              else "")
    if board not in BOARDS:          # the emulator's: built, not flashed
        return make
    return f"{make} && eggemo flash --board {board} {firmware_image(board, model)}"


def elf_board(path: str | Path) -> str | None:
    """board_tag of the ELF file at path (None for a file that is not a 32-bit ELF)."""
    data = Path(path).read_bytes()
    return board_tag(data) if data[:4] == b"\x7fELF" and data[4:5] == b"\x01" else None


def check_elf(path: str | Path, chip: Chip) -> ImageInfo:
    """Validate a firmware ELF for chip; raises FirmwareError saying what is wrong."""
    path = Path(path)
    if path.is_dir():
        raise FirmwareError(f"{path}: is a folder, not a firmware ELF; give the .elf file in it "
                            f"(built by `make -C firmware BOARD=stm32f405`)")
    if not path.is_file():
        raise FirmwareError(f"{path}: no such file; build it with `make -C firmware BOARD=stm32f405`")
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        raise FirmwareError(f"{path}: not an ELF file; pass the .elf from the firmware build, not the .bin or .hex")
    if len(data) < 52:
        raise FirmwareError(f"{path}: truncated ELF header ({len(data)} bytes)")
    if data[4] != 1 or data[5] != 1:
        raise FirmwareError(f"{path}: not a 32-bit little-endian ELF, so not a Cortex-M image")
    (e_type, e_machine, _, e_entry, e_phoff, _, _, _, e_phentsize, e_phnum) = struct.unpack_from(
        "<HHIIIIIHHH", data, 16)
    if e_machine != EM_ARM:
        raise FirmwareError(f"{path}: built for ELF machine {e_machine}, not ARM ({EM_ARM}); "
                            "use the arm-none-eabi build from firmware/")
    if e_type != ET_EXEC:
        raise FirmwareError(f"{path}: an object or shared library (ELF type {e_type}), not a linked executable")
    if e_phnum == 0 or e_phoff + e_phnum * e_phentsize > len(data) or e_phentsize < 32:
        raise FirmwareError(f"{path}: truncated or missing program headers; rebuild the image")
    flash_bytes = ram_bytes = ccm_bytes = 0
    vectors: bytes | None = None
    for i in range(e_phnum):
        p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _, _ = struct.unpack_from(
            "<IIIIIIII", data, e_phoff + i * e_phentsize)
        if p_type != PT_LOAD or p_memsz == 0:
            continue
        if p_filesz:
            if not _in(p_paddr, p_filesz, chip.flash_base, chip.flash_size):
                raise FirmwareError(f"{path}: a segment loads at 0x{p_paddr:08X}..0x{p_paddr + p_filesz:08X}, "
                                    f"outside {chip.name} flash 0x{chip.flash_base:08X}+{chip.flash_size // 1024} KiB; "
                                    f"build it with `{firmware_command(chip.board)}`")
            if p_offset + p_filesz > len(data):
                raise FirmwareError(f"{path}: truncated: a segment runs past the end of the file")
            flash_bytes += p_filesz
            if p_paddr == chip.flash_base:
                vectors = data[p_offset:p_offset + 8]
        if _in(p_vaddr, 0, chip.ram_base, chip.ram_size):
            ram_bytes += p_memsz
        elif chip.ccm_size and _in(p_vaddr, p_memsz, chip.ccm_base, chip.ccm_size):
            ccm_bytes += p_memsz
        elif not _in(p_vaddr, p_memsz, chip.flash_base, chip.flash_size):
            raise FirmwareError(f"{path}: a segment runs at 0x{p_vaddr:08X}, neither in flash nor in RAM")
    if flash_bytes > chip.flash_size:
        raise FirmwareError(f"{path}: {flash_bytes} bytes do not fit {chip.name} flash ({chip.flash_size} bytes)")
    if ram_bytes > chip.ram_size:
        raise FirmwareError(f"{path}: needs {ram_bytes} bytes of RAM, {chip.name} has {chip.ram_size}")
    if vectors is None or len(vectors) < 8:
        raise FirmwareError(f"{path}: no vector table at the start of flash (0x{chip.flash_base:08X}); "
                            "the chip would not boot")
    sp, reset = struct.unpack("<II", vectors)
    if not (chip.ram_base < sp <= chip.ram_base + chip.ram_size) or sp % 4:
        raise FirmwareError(f"{path}: initial stack pointer 0x{sp:08X} is not a word in {chip.name} RAM")
    if not reset & 1 or not _in(reset & ~1, 2, chip.flash_base, chip.flash_size):
        raise FirmwareError(f"{path}: reset vector 0x{reset:08X} is not a Thumb address in flash")
    if (e_entry | 1) != reset:
        raise FirmwareError(f"{path}: ELF entry 0x{e_entry:08X} differs from the reset vector 0x{reset:08X}")
    board = board_tag(data)
    build = f"`{firmware_command(chip.board)}`"
    if board is None:
        raise FirmwareError(f"{path}: the image says nothing about the board it was built for (no {BOARD_SECTION} "
                            f"section), so it may be the QEMU build; rebuild it with {build}")
    known = B.all_boards()
    if board in known and known[board].emulated:
        raise FirmwareError(f"{path}: this is the QEMU build (BOARD={board}): it takes its EGG from the serial link "
                            f"and never starts {chip.name}'s ADC, so on the chip it would stream nothing. "
                            f"Build the chip image with {build}")
    if board != chip.board:
        raise FirmwareError(f"{path}: built for board '{board}', not {chip.board}; build it with {build}")
    return ImageInfo(e_entry, sp, reset, flash_bytes, ram_bytes, board, ccm_bytes)


def _target_available(target: str, pack: str | None) -> bool:
    from pyocd.target import TARGET

    if target in TARGET or pack:
        return True  # built in, or the given pack is checked when the session opens
    try:
        from pyocd.target.pack.pack_target import ManagedPacks
        return any(dev.part_number.lower() == target for dev in ManagedPacks.get_installed_targets())
    except Exception:
        return False


def flash(path: str | Path, board: str = "stm32f405", *, probe: str | None = None,
          target: str | None = None, pack: str | None = None) -> ImageInfo:
    """Check the image, then program, verify and reset through the first (or given) probe."""
    chip = BOARDS[board]
    info = check_elf(path, chip)
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise FirmwareError("pyOCD is not installed: pip install 'eggemo[flash]' (or use OpenOCD, "
                            f"see firmware/boards/{board}/README.md)") from None
    probes = ConnectHelper.get_all_connected_probes(blocking=False, unique_id=probe, print_wait_message=False)
    if not probes:
        which = f" with ID containing '{probe}'" if probe else ""
        raise FirmwareError(f"no debug probe{which} found: connect an ST-Link or CMSIS-DAP probe to the board's "
                            "SWD pins (SWDIO, SWCLK, GND; board powered) and retry; `pyocd list` shows what pyOCD "
                            "sees. The image itself is valid.")
    target = target or chip.pyocd_target
    if not _target_available(target, pack):
        raise FirmwareError(f"pyOCD has no '{target}' target: run `pyocd pack install {chip.pack_hint}` once "
                            f"(downloads the device pack with {chip.name}), or pass --pack FILE.pack")
    options = {"target_override": target, "frequency": 4_000_000}
    if pack:
        options["pack"] = pack
    session = ConnectHelper.session_with_chosen_probe(blocking=False, unique_id=probes[0].unique_id,
                                                      options=options)
    if session is None:
        raise FirmwareError("the debug probe went away before the session opened; reconnect it and retry")
    with session:
        FileProgrammer(session).program(str(path), file_format="elf")
        session.board.target.reset()
    return info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("firmware", type=Path, help="firmware ELF (make -C firmware BOARD=stm32f405)")
    add_board(parser, "the one the image was built for", BOARDS)
    parser.add_argument("--probe", help="unique ID (or part of it) of the probe to use")
    parser.add_argument("--target", help="pyOCD target type (default: the board's)")
    parser.add_argument("--pack", help="CMSIS device pack file for pyOCD")
    parser.add_argument("--check-only", action="store_true", help="validate the image, do not flash")


def main(args: argparse.Namespace) -> int:
    chip = BOARDS[args.board]
    try:
        if args.check_only:
            info = check_elf(args.firmware, chip)
        else:
            info = flash(args.firmware, args.board, probe=args.probe, target=args.target, pack=args.pack)
    except FirmwareError as exc:
        print(f"eggemo flash: {exc}", file=sys.stderr)
        return 1
    verb = "valid" if args.check_only else "flashed"
    print(f"{args.firmware}: {verb} for {chip.name} (built with BOARD={info.board}): entry 0x{info.entry:08X}, "
          f"flash {info.flash_bytes} B of {chip.flash_size}, RAM {info.ram_bytes} B of {chip.ram_size}"
          + (f", CCM {info.ccm_bytes} B of {chip.ccm_size}" if info.ccm_bytes else ""))
    return 0
