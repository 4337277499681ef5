"""`eggemo flash`: everything up to the probe. The built STM32F405 image is valid, broken
images are refused with a reason, and without a probe the command says so and fails."""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from eggemo import cli
from eggemo.flash import BOARDS, FirmwareError, check_elf, elf_board

CHIP = BOARDS["stm32f405"]


def patched(src: Path, dst: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(src.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    dst.write_bytes(bytes(data))
    return dst


def phdr_offsets(elf: Path) -> list[tuple[int, tuple]]:
    data = elf.read_bytes()
    phoff, = struct.unpack_from("<I", data, 28)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    return [(phoff + i * phentsize, struct.unpack_from("<IIIIIIII", data, phoff + i * phentsize))
            for i in range(phnum)]


def test_built_image_is_valid(chip_build):
    elf, make_output = chip_build
    info = check_elf(elf, CHIP)
    assert info.reset_vector == info.entry | 1
    assert CHIP.ram_base < info.initial_sp <= CHIP.ram_base + CHIP.ram_size
    assert 0 < info.flash_bytes <= CHIP.flash_size and 0 < info.ram_bytes <= CHIP.ram_size
    assert "BOARD=stm32f405" in make_output and "flash" in make_output  # the size report
    assert "OVER" not in make_output, make_output                      # within the flash and RAM budgets


def test_broken_images_are_refused(chip_build, tmp_path):
    elf, _ = chip_build
    cases = {
        "not an ELF": (tmp_path / "fw.bin", lambda p: p.write_bytes(b"\x00\x10\x00\x20" * 64)),
        "not a 32-bit": (tmp_path / "host.elf", lambda p: p.write_bytes(Path(sys.executable).resolve().read_bytes())),
        "truncated ELF header": (tmp_path / "short.elf", lambda p: p.write_bytes(elf.read_bytes()[:40])),
        "not ARM": (tmp_path / "mips.elf", lambda p: patched(elf, p, 18, "<H", 8)),
    }
    for why, (path, make) in cases.items():
        make(path)
        with pytest.raises(FirmwareError, match=why):
            check_elf(path, CHIP)
    with pytest.raises(FirmwareError, match="no such file"):
        check_elf(tmp_path / "missing.elf", CHIP)

    text_load = next(off for off, ph in phdr_offsets(elf) if ph[0] == 1 and ph[3] == CHIP.flash_base)
    with pytest.raises(FirmwareError, match="outside STM32F405RG flash"):  # linked for another address
        check_elf(patched(elf, tmp_path / "ram.elf", text_load + 12, "<I", 0x2000_0000), CHIP)
    bss = next(off for off, ph in phdr_offsets(elf) if ph[0] == 1 and ph[2] >= CHIP.ram_base and ph[5] > 4096)
    with pytest.raises(FirmwareError, match="bytes of RAM"):
        check_elf(patched(elf, tmp_path / "fat.elf", bss + 20, "<I", 200 * 1024), CHIP)
    vec = next(ph[1] for _, ph in phdr_offsets(elf) if ph[0] == 1 and ph[3] == CHIP.flash_base)
    with pytest.raises(FirmwareError, match="reset vector"):
        check_elf(patched(elf, tmp_path / "even.elf", vec + 4, "<I", 0x0800_0100), CHIP)
    with pytest.raises(FirmwareError, match="stack pointer"):
        check_elf(patched(elf, tmp_path / "sp.elf", vec, "<I", 0x0800_0000), CHIP)


def test_flash_without_a_probe_fails_clearly(chip_build, capsys):
    from pyocd.core.helpers import ConnectHelper

    if ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False):
        pytest.skip("a debug probe is attached; the tests never flash a real board")
    elf, _ = chip_build
    assert cli.main(["flash", "--board", "stm32f405", str(elf)]) == 1
    err = capsys.readouterr().err
    assert "no debug probe found" in err and "ST-Link" in err and "image itself is valid" in err


def test_check_only_and_bad_file_through_the_cli(chip_build, tmp_path, capsys):
    elf, _ = chip_build
    assert cli.main(["flash", "--check-only", str(elf)]) == 0
    assert "valid for STM32F405RG (built with BOARD=stm32f405)" in capsys.readouterr().out
    assert cli.main(["flash", str(tmp_path / "nope.elf")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_a_folder_given_as_the_image_is_called_a_folder(tmp_path, capsys):
    """It used to say "no such file" about a folder that is there."""
    assert cli.main(["flash", "--check-only", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: is a folder, not a firmware ELF" in err and "no such file" not in err


def test_the_board_is_read_from_the_image(chip_build, firmware_elf):
    chip_elf, _ = chip_build
    assert check_elf(chip_elf, CHIP).board == "stm32f405"
    assert elf_board(chip_elf) == "stm32f405" and elf_board(firmware_elf) == "qemu"


def test_a_qemu_build_is_refused_for_the_chip(firmware_elf, capsys):
    """The QEMU image passes every layout check (same chip, same linker script); only its board
    tag tells it apart, and flashing it would give a board that never samples its ADC."""
    with pytest.raises(FirmwareError, match=r"QEMU build \(BOARD=qemu\).*make -C firmware BOARD=stm32f405"):
        check_elf(firmware_elf, CHIP)
    for argv in (["flash", "--check-only", str(firmware_elf)], ["flash", str(firmware_elf)]):
        assert cli.main(argv) == 1
        captured = capsys.readouterr()
        assert "QEMU build" in captured.err and "valid" not in captured.out and "Traceback" not in captured.err


def test_an_image_without_a_board_tag_is_refused(chip_build, tmp_path):
    elf, _ = chip_build
    bare = tmp_path / "bare.elf"
    subprocess.run(["arm-none-eabi-objcopy", "--remove-section", ".eggemo.board", str(elf), str(bare)], check=True)
    assert elf_board(bare) is None
    with pytest.raises(FirmwareError, match="nothing about the board it was built for"):
        check_elf(bare, CHIP)
    other = tmp_path / "other.elf"
    (tmp_path / "tag").write_text("board=nucleo\n")
    subprocess.run(["arm-none-eabi-objcopy", "--update-section", f".eggemo.board={tmp_path / 'tag'}",
                    str(elf), str(other)], check=True)
    with pytest.raises(FirmwareError, match="built for board 'nucleo', not stm32f405"):
        check_elf(other, CHIP)


def test_the_emulator_refuses_the_chip_build(chip_build):
    from eggemo.host.emulator import Emulator

    elf, _ = chip_build
    with pytest.raises(ValueError, match="BOARD=stm32f405, not for QEMU"):
        Emulator(elf)
