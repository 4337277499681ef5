"""The firmware against its targets: F0 instructions per 10 ms hop (QEMU -icount shift=0,
counted by the firmware itself), flash/RAM without a model, and a long 16 kHz stream
through the emulated board with every lost sample counted.

    python benchmarks/bench_firmware.py [--minutes 10]

Prints tables; asserts nothing. Needs arm-none-eabi-gcc and qemu-system-arm. The stream is
real EGG (two recordings, resampled to 16 kHz, repeated to length); the board's F0 frames
are also checked bit for bit against emo_f0_analyze on the host.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eggemo.core import proto as P  # noqa: E402
from eggemo.host.emulator import build_firmware, missing_tools  # noqa: E402
from tests.firmware.qemu_board import QemuBoard  # noqa: E402
from tests.firmware.test_f0_stream import real_egg, reference_f0, synthetic_egg  # noqa: E402

CPU_HZ = 168_000_000
HOP_BUDGET = CPU_HZ // 100 // 5          # 20 % of a 168 MHz core per 10 ms hop = 336,000
FLASH_BUDGET, RAM_BUDGET = 64 * 1024, 56 * 1024   # firmware/Makefile (RAM: 48 KiB before the voice quality)


def sizes(elf: Path) -> tuple[int, int]:
    """(flash, RAM) bytes: vectors+text+exidx+data, and stack+data+bss."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {p[0]: int(p[1]) for p in (line.split() for line in out.splitlines()) if len(p) >= 2 and p[1].isdigit()}
    flash = sum(sec.get(s, 0) for s in (".isr_vector", ".text", ".ARM.exidx", ".data"))
    ram = sum(sec.get(s, 0) for s in (".stack", ".data", ".bss"))
    return flash, ram


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the long stream")
    args = ap.parse_args()
    if missing_tools():
        print(f"needs {', '.join(missing_tools())}: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
              "qemu-system-arm")
        return 1

    build = Path(tempfile.mkdtemp(prefix="bench-fw-"))
    elfs = {b: build_firmware(build / b, b) for b in ("qemu", "stm32f405")}
    rows = []
    for board, elf in elfs.items():
        flash, ram = sizes(elf)
        rows.append([board, f"{flash:,}", f"{flash / FLASH_BUDGET:.2f}", f"{ram:,}", f"{ram / RAM_BUDGET:.2f}"])
    table("Firmware without a model (bytes; ratio to the budget, <= 1 meets it)",
          ["board", "flash", "/ 64 KB", "RAM", "/ 48 KB"], rows)

    recordings = {"M1_FrameSentence (real)": real_egg("M1_FrameSentence_EGG.wav"),
                  "M11_disyll (real)": real_egg("M11_disyll_EGG.wav"),
                  "synthetic": synthetic_egg()}
    rows = []
    with QemuBoard(elfs["qemu"], timeout=60) as b:
        for fs in (16000, 8000):
            for name, x in recordings.items():
                sig = x if fs == 16000 else x[::2].copy()
                s = b.stream(sig, mode=P.MODE_F0, fs=fs).status
                rows.append([f"{fs // 1000} kHz", name, s.hops, f"{s.hop_cost_mean:,}", f"{s.hop_cost_max:,}",
                             f"{s.hop_cost_mean / HOP_BUDGET:.2f}", f"{s.hop_cost_max / HOP_BUDGET:.2f}"])
    table(f"F0 instructions per 10 ms hop, counted by the firmware (budget {HOP_BUDGET:,} = 20 % of 168 MHz)",
          ["rate", "signal", "hops", "mean", "max", "mean/budget", "max/budget"], rows)

    # the long stream: the real recordings back to back, repeated to length
    n = int(args.minutes * 60 * 16000)
    base = np.concatenate([recordings["M1_FrameSentence (real)"], recordings["M11_disyll (real)"]])
    x = np.resize(base, n).astype(np.int16)
    with QemuBoard(elfs["qemu"], timeout=120) as b:
        t0 = time.monotonic()
        res = b.stream(x, mode=P.MODE_F0)
        wall = time.monotonic() - t0
        host_bytes = res.status.rx_bytes
    ref = reference_f0(x)
    exact = (len(res.f0) == len(ref) and res.f0.tobytes() == ref.tobytes())
    s = res.status
    lost = n - s.samples_in
    table(f"{args.minutes:g} min of 16 kHz EGG through the emulated board (QEMU -icount shift=0)",
          ["quantity", "value", "ratio / baseline"],
          [["samples sent", f"{n:,}", ""],
           ["samples analysed (samples_in)", f"{s.samples_in:,}", f"{s.samples_in / n:.6f} of sent"],
           ["samples lost (sent - in)", f"{lost:,}", ""],
           ["  board: samples_lost / dropped", f"{s.samples_lost} / {s.samples_dropped}", ""],
           ["  board: rx_overflows / crc / format", f"{s.rx_overflows} / {s.crc_errors} / {s.format_errors}", ""],
           ["F0 frames, bit-exact vs host C", f"{len(res.f0):,}, {'yes' if exact else 'NO'}", ""],
           ["hop cost mean / max (instructions)", f"{s.hop_cost_mean:,} / {s.hop_cost_max:,}",
            f"{s.hop_cost_mean / HOP_BUDGET:.2f} / {s.hop_cost_max / HOP_BUDGET:.2f} of budget"],
           ["wall time", f"{wall:.1f} s", f"{n / 16000 / wall:.2f}x real time"],
           ["host -> board link", f"{host_bytes / wall / 1000:.1f} kB/s",
            f"{host_bytes / wall / 32000:.2f}x the 32 kB/s of 16 kHz int16"]])
    print("\nThe emulated link is flow-controlled (QEMU's USART takes a byte only when the last was read),\n"
          "so samples are lost only if the firmware's rings overflow; wall-clock speed is QEMU's, not the chip's.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
