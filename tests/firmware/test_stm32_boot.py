"""The chip image (BOARD=stm32f405) boots under QEMU's netduinoplus2 and talks the protocol.

QEMU models the STM32F405's core, SysTick, USART1, timers and an ADC without a signal, but
has no RCC (reads 0, writes ignored), no flash interface, GPIO, DMA or watchdog. So the
port's crystal never reports ready and its PLL never locks: the image must give up on both
within its bounded waits, stay on the 16 MHz HSI the RCC reports, and say so in HELLO
(clock-fallback flag). An image that waited on those flags for ever never sends a byte here.

The emulator refuses the chip's ELF (its `.eggemo.board` tag says stm32f405), so that nobody
runs the wrong image by mistake; these tests boot eggemo.bin instead, the bytes a probe
writes to flash, which carries no tag.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from eggemo.core import proto as P
from eggemo.host.emulator import Emulator

from .qemu_board import FIRMWARE, QemuBoard
from .test_f0_stream import synthetic_egg

APP_H = (FIRMWARE / "app" / "app.h").read_text()
FW_VERSION = tuple(int(re.search(rf"#define EMO_APP_FW_{part} (\d+)", APP_H).group(1))
                   for part in ("MAJOR", "MINOR", "PATCH"))
DEFAULT_FS = int(re.search(r"#define EMO_APP_DEFAULT_FS (\d+)", APP_H).group(1))
HSI_HZ = 16_000_000          # the clock the RCC reports when nothing else came up
ERR_UNSUPPORTED = -11        # emo_status_t: not on this board


def flip_bit(wire: bytes, at: int) -> bytes:
    """wire with one bit of byte `at` flipped, never into a 0x00 (which would end the frame)."""
    b = bytearray(wire)
    b[at] ^= 1 if b[at] != 1 else 2
    return bytes(b)


@pytest.fixture
def chip(chip_build):
    """The STM32F405 image, freshly booted under QEMU (its boot-time HELLO received)."""
    elf, _ = chip_build
    with QemuBoard(elf.with_suffix(".bin"), timeout=5.0) as b:
        yield b


def test_emulator_refuses_the_chip_elf(chip_build):
    elf, _ = chip_build
    with pytest.raises(ValueError, match="BOARD=stm32f405"):
        Emulator(elf)


def test_chip_image_answers_get_hello_on_its_fallback_clock(chip):
    boot = chip.hello
    chip.send(P.CMD_GET_HELLO)
    hello = chip.expect(P.Hello)
    assert hello == boot
    assert hello.board == P.BOARD_STM32F405 and hello.fw_version == FW_VERSION
    assert hello.fs == DEFAULT_FS and not hello.streaming
    assert hello.cost_unit == P.COST_CYCLES
    # what the port measured: no crystal, no PLL, so the core is on the HSI and says so
    assert hello.flags == P.HELLO_FLAG_CLOCK_FALLBACK and hello.clock_fallback
    assert hello.cpu_hz == HSI_HZ


def test_chip_image_counts_bad_frames_and_keeps_answering(chip):
    before = chip.status()
    sent = bytearray()

    def send(wire: bytes) -> None:
        sent.extend(wire)
        chip.write(wire)

    send(flip_bit(chip.encoder.encode(P.CMD_SET_RATE, P.set_rate_payload(8000)), 6))  # CRC error
    send(chip.encoder.encode(P.CMD_GET_HELLO)[:5] + b"\x00")                            # truncated
    seq = chip.encoder.seq
    send(chip.encoder.encode(P.CMD_REPLAY, P.pack_samples(0, np.zeros(4, np.int16))))  # the chip samples its ADC
    ack = chip.expect(P.Ack)
    assert (ack.command, ack.seq, ack.status) == (P.CMD_REPLAY, seq, ERR_UNSUPPORTED)
    after = chip.status()
    assert after.crc_errors - before.crc_errors == 1
    assert after.format_errors - before.format_errors == 1
    assert after.cmd_rejected - before.cmd_rejected == 1
    assert after.frames_ok - before.frames_ok == 2               # REPLAY and this GET_STATUS
    assert after.rx_bytes - before.rx_bytes == len(sent) + len(chip.encoder.encode(P.CMD_GET_STATUS))
    assert after.rx_overflows == 0 and after.uptime_ms > before.uptime_ms
    assert chip.command(P.CMD_SET_RATE, P.set_rate_payload(8000)).ok


def test_chip_image_starts_and_stops_sampling(chip):
    """START programs TIM2, ADC1 and DMA2 for the rate in force (the DMA stream's bounded stop
    wait included); QEMU's DMA is a stub, so no samples arrive, but the commands complete."""
    assert chip.command(P.CMD_SET_RATE, P.set_rate_payload(8000)).ok
    assert chip.command(P.CMD_START).ok
    chip.send(P.CMD_GET_HELLO)
    hello = chip.expect(P.Hello)
    assert hello.streaming and hello.fs == 8000
    assert chip.command(P.CMD_STOP).ok
    chip.expect(P.Status)                                        # the STATUS that follows STOP
    chip.send(P.CMD_GET_HELLO)
    assert not chip.expect(P.Hello).streaming


def test_chip_image_streams_a_replayed_utterance_with_the_qemu_boards_bits(chip, board):
    """With SET_MODE's REPLAY bit the chip leaves its ADC off and takes the samples from REPLAY
    frames, so a recording goes through the chip image under QEMU as through the QEMU board: the
    same F0 records, bit for bit, and the same stream counters. (A chip image built with MODEL=
    keeps its classifier in the CCM, which QEMU's netduinoplus2 does not map, so the EMOTION frames
    of the chip are covered by the QEMU board's tests alone.) The chip's link has no flow control,
    so the samples are paced here (2x real time), as on the chip; nothing may overflow."""
    x = synthetic_egg()
    want = board.stream(x)
    got = chip.stream(x, replay=True, speed=2.0)
    assert len(want.f0) > 100 and got.f0.tobytes() == want.f0.tobytes()
    st = got.status
    assert (st.samples_in, st.samples_dropped, st.samples_lost, st.rx_overflows) == (len(x), 0, 0, 0)
    assert (st.hops, st.f0_sent) == (want.status.hops, want.status.f0_sent) and st.cmd_rejected == 0
    assert not [a for a in got.acks if not a.ok]


def test_chip_image_refuses_replay_into_a_stream_of_its_adc(chip):
    """Without the REPLAY bit a stream's samples come from the ADC: REPLAY is refused (-11), as
    before, and the next stream may still be fed."""
    assert chip.command(P.CMD_SET_MODE, P.set_mode_payload(P.MODE_F0)).ok
    assert chip.command(P.CMD_START).ok
    seq = chip.send(P.CMD_REPLAY, P.pack_samples(0, np.zeros(160, np.int16)))
    ack = chip.expect(P.Ack)
    assert (ack.command, ack.seq, ack.status) == (P.CMD_REPLAY, seq, ERR_UNSUPPORTED)
    assert chip.command(P.CMD_STOP).ok
    chip.expect(P.Status)
    assert chip.command(P.CMD_SET_MODE, bytes([P.MODE_F0 | P.MODE_REPLAY | 8])).status == -2   # unknown bit
    assert chip.command(P.CMD_SET_MODE, bytes([P.MODE_REPLAY])).status == -2                  # nothing to send
    assert chip.command(P.CMD_SET_MODE, P.set_mode_payload(P.MODE_F0, replay=True)).ok
    assert chip.command(P.CMD_START).ok
    chip.send(P.CMD_REPLAY, P.pack_samples(0, np.zeros(160, np.int16)))
    assert chip.command(P.CMD_STOP).ok
    assert chip.expect(P.Status).samples_in == 160
