"""Fixtures for the firmware tests: the image is built from source by make into a
per-session build directory, so a clean checkout works. Without the ARM toolchain or
QEMU the tests are skipped, except under CI (CI set), where that is a failure."""
from __future__ import annotations

import os

import pytest

from eggemo.host.emulator import build_firmware, make_firmware, missing_tools

from .qemu_board import QemuBoard


def _require_tools() -> None:
    missing = missing_tools()
    if not missing:
        return
    msg = (f"firmware tests need {', '.join(missing)}: "
           "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm (or `make sysdeps` as root)")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the toolchain is missing -- {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def firmware_elf(tmp_path_factory):
    """The QEMU firmware image, built once per session."""
    _require_tools()
    return build_firmware(tmp_path_factory.mktemp("fw-qemu"), "qemu")


@pytest.fixture(scope="session")
def chip_build(tmp_path_factory):
    """The STM32F405 image (built, not run: no board here) and make's output."""
    _require_tools()
    return make_firmware(tmp_path_factory.mktemp("fw-stm32f405"), "stm32f405")


@pytest.fixture
def board(firmware_elf):
    """A freshly booted emulated board (HELLO already received)."""
    with QemuBoard(firmware_elf) as b:
        yield b
