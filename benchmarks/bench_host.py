"""Host monitor benchmarks (print tables, assert nothing).

1. End of utterance -> prediction on screen: a software board streams held-out synthetic
   utterances over a pty; the monitor segments, runs the int8 student and repaints a rich Live
   screen (into a null console). Latency is from the arrival of the F0 frame that closes the
   utterance to the end of the repaint. Baselines measured in the same run: the int8
   inference alone and the repaint alone. Target: p95 <= 30 ms.
2. A long 16 kHz raw stream through a pty at real time (the board in another process):
   samples lost (host counters, and the recorded WAV against the source) and the host's CPU
   use (user + system time of the monitor's process / wall time). Baseline: the same link with
   the board's F0 and no recording; measured: raw only, F0 on the host, recording, inference.

    .venv/bin/python benchmarks/bench_host.py [--model DIR] [--minutes 10] [--baseline-minutes 1]

Without --model, the test student (random weights, edge size) is exported first (~1 min;
needs torch and TensorFlow).
"""
from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eggemo.core import proto as P  # noqa: E402
from eggemo.host.display import LiveDisplay, MonitorState, PlainDisplay, render  # noqa: E402
from eggemo.host.monitor import Monitor, MonitorOptions  # noqa: E402
from eggemo.host.pipeline import Classifier, SegmenterConfig, Segmenter, frames_from_records  # noqa: E402
from eggemo.host.record import Recorder, read_recording  # noqa: E402
from tests.host.conftest import HELD_OUT, export_test_student, synthetic_utterances  # noqa: E402
from tests.host.sim_board import SimBoard  # noqa: E402

FS = 16000
SEG = SegmenterConfig(hangover_ms=1000.0)


def pct(x: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(x), [50, 95])
    return float(p50), float(p95)


def program(corpus: dict, seconds: float) -> np.ndarray:
    """Utterances (all of the corpus, round robin) with 1 s of silence after each, `seconds` long."""
    keys = sorted(corpus)
    parts, n, i = [], 0, 0
    while n < seconds * FS:
        egg = corpus[keys[i % len(keys)]][1]
        parts += [egg, np.zeros(FS, np.int16)]
        n += len(egg) + FS
        i += 1
    return np.concatenate(parts)[: int(seconds * FS)]


def pty_pair() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


# --- 1. latency ------------------------------------------------------------------------------


def bench_latency(model: Path, corpus: dict, n_utts: int) -> list[tuple[str, float, float, str]]:
    keys = [*HELD_OUT, *range(42, 49)][:n_utts]
    sig = np.concatenate([np.concatenate([corpus[k][1], np.zeros(int(1.5 * FS), np.int16)]) for k in keys])
    master, slave, path = pty_pair()
    os.set_blocking(master, False)
    board = SimBoard(master, sig, speed=4.0).start()
    null = io.StringIO()
    from rich.console import Console

    display = LiveDisplay(console=Console(file=null, width=110, force_terminal=True, color_system="truecolor"))
    clf = Classifier.from_model(model)
    mon = Monitor(path, clf, MonitorOptions(mode=P.MODE_F0, seg=SEG, duration=len(sig) / FS / 4 + 30),
                  display=display)
    runner = threading.Thread(target=lambda: _run_with(display, mon), daemon=True)
    runner.start()
    while not (board.finished and len(mon.predictions) >= len(keys)) and runner.is_alive():
        time.sleep(0.05)
    mon.stop()
    runner.join(10)
    board.stop()
    os.close(slave)
    os.close(master)

    # baselines in the same process: inference alone, repaint alone
    infer, paint = [], []
    seg = Segmenter(SEG)
    from eggemo.core.f0.binding import F0Stream

    utts = []
    for k in keys:
        st = F0Stream(FS)
        cols = [np.concatenate(c) for c in zip(st.push(corpus[k][1]), st.flush())]
        rec = np.zeros(len(cols[0]), P.F0_DTYPE)
        for name, col in zip(("index", "f0_hz", "voiced", "periodicity", "energy_db", "cq", "jitter", "shimmer"),
                             cols, strict=True):
            rec[name] = col
        utts += seg.push(frames_from_records(rec)) + seg.end("stream_end")
    clf2 = Classifier.from_model(model)
    for u in utts * 3:
        t0 = time.perf_counter()
        clf2.predict(u)
        infer.append(1000 * (time.perf_counter() - t0))
    state = mon.state
    for _ in range(60):
        t0 = time.perf_counter()
        display.console.print(render(state, 110))
        paint.append(1000 * (time.perf_counter() - t0))
    e2e = mon.latencies_ms
    i50, i95 = pct(infer)
    rows = [("int8 inference alone (baseline)", i50, i95, f"{len(infer)} runs"),
            ("rich render + print alone", *pct(paint), f"{len(paint)} runs"),
            ("utterance end -> on screen", *pct(e2e), f"{len(e2e)} utterances of {len(keys)}")]
    return rows


def _run_with(display, mon) -> None:
    with display:
        mon.run()


# --- 2. long raw stream ----------------------------------------------------------------------


def _board_process(master: int, samples: np.ndarray, ready) -> None:
    os.set_blocking(master, False)
    board = SimBoard(master, samples, speed=1.0).start()
    ready.set()
    while not board.finished:
        time.sleep(0.1)
    time.sleep(2.0)           # let the host read the tail
    board.stop()


def bench_stream(samples: np.ndarray, mode: int, model: Path | None, record: bool) -> dict:
    master, slave, path = pty_pair()
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_board_process, args=(master, samples, ready), daemon=True)
    proc.start()
    ready.wait(10)
    tmp = tempfile.TemporaryDirectory(prefix="bench-host-")
    recorder = Recorder(Path(tmp.name) / "rec") if record else None
    clf = Classifier.from_model(model) if model is not None else None
    seconds = len(samples) / FS
    mon = Monitor(path, clf, MonitorOptions(mode=mode, seg=SEG, duration=seconds + 4.0), recorder=recorder,
                  display=PlainDisplay(io.StringIO(), stats_every_s=0))
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    mon.run()
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    proc.join(10)
    os.close(slave)
    os.close(master)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    got = None
    if record:
        rec = read_recording(Path(tmp.name) / "rec")
        got = len(rec.egg)
        identical = bool(np.array_equal(rec.egg, samples[:got]))
    tmp.cleanup()
    c = mon.link_counters()
    return {"seconds": seconds, "wall": t1 - t0, "cpu": cpu, "cpu_pct": 100 * cpu / (t1 - t0),
            "samples_lost": c["samples_lost"], "crc": c["crc_errors"], "seq_lost": c["seq_lost"],
            "recorded": got, "identical": identical if record else None, "predictions": len(mon.predictions),
            "frames": c["frames"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="an `eggemo export` folder (default: export the test student)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the raw stream (default 10)")
    ap.add_argument("--baseline-minutes", type=float, default=1.0, help="length of the baseline stream")
    ap.add_argument("--utterances", type=int, default=10, help="utterances in the latency run")
    args = ap.parse_args()
    corpus = synthetic_utterances()
    tmp = None
    model = args.model
    if model is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-host-model-")
        print("exporting the test student (random weights, edge size)...", flush=True)
        model = export_test_student(Path(tmp.name), corpus)

    print(f"\n1. end of utterance -> prediction on screen (host: {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}); target p95 <= 30 ms")
    rows = bench_latency(model, corpus, args.utterances)
    base = rows[0][1]
    print(f"{'':34s} {'p50 ms':>8s} {'p95 ms':>8s} {'p50 / inference':>16s}  n")
    for name, p50, p95, n in rows:
        print(f"{name:34s} {p50:8.1f} {p95:8.1f} {p50 / base:16.2f}  {n}")

    print(f"\n2. 16 kHz raw stream through a pty at real time (load {os.getloadavg()[0]:.1f})")
    runs = [("baseline: board F0 + raw, no recording", args.baseline_minutes, P.MODE_BOTH, None, False),
            ("raw only: host F0 + recording + int8", args.minutes, P.MODE_RAW, model, True)]
    res = []
    for name, minutes, mode, m, record in runs:
        res.append((name, bench_stream(program(corpus, 60 * minutes), mode, m, record)))
    b = res[0][1]["cpu_pct"]
    print(f"{'':40s} {'stream s':>8s} {'CPU %':>7s} {'x base':>7s} {'lost':>5s} {'CRC':>4s} {'recorded':>10s} "
          f"{'identical':>9s} {'preds':>5s}")
    for name, r in res:
        print(f"{name:40s} {r['seconds']:8.0f} {r['cpu_pct']:7.2f} {r['cpu_pct'] / b:7.2f} {r['samples_lost']:5d} "
              f"{r['crc']:4d} {str(r['recorded']):>10s} {str(r['identical']):>9s} {r['predictions']:5d}")
    print("CPU %: the monitor process's user+system time over wall time, of one core.")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
