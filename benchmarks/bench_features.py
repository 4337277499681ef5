"""Feature extraction throughput on the default synthetic corpus: cold, cold + cache write, cached.

    .venv/bin/python benchmarks/bench_features.py                 # synthesises the default corpus first
    .venv/bin/python benchmarks/bench_features.py --corpus DIR    # an existing corpus

Rows: synthesis of the corpus (eggemo synth's defaults); extraction with no cache; extraction
into an empty cache (compute + write); extraction from a full cache (read only); and the
per-utterance stages of a cold run (WAV read, F0 core, log-Mel with one BLAS thread and with
the BLAS library's default threads). Utterances per second of wall time and of process CPU
time (the machine may be shared; CPU time is the steadier of the two). Ratios are against
"extract, no cache" measured in the same run. Asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eggemo.train.data import load_corpus, read_item  # noqa: E402
from eggemo.train.features import FeatureConfig, compute_utterance, extract_features, log_mel  # noqa: E402
from eggemo.train.synth_corpus import CorpusConfig, write_corpus  # noqa: E402


def timed(fn) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def stage_times(items, config: FeatureConfig, n: int) -> dict[str, float]:
    """Median seconds per utterance of each stage over the first n items."""
    from eggemo.core.f0 import f0_track
    from threadpoolctl import threadpool_limits

    out: dict[str, list[float]] = {"read + resample WAV": [], "F0 core (C)": [], "log-Mel, 1 BLAS thread": [],
                                   "log-Mel, default BLAS threads": []}
    for item in items[:n]:
        t0 = time.perf_counter()
        speech, egg = read_item(item, config.fs)
        t1 = time.perf_counter()
        track = f0_track(egg, config.fs, config.f0_params())
        t2 = time.perf_counter()
        with threadpool_limits(1, user_api="blas"):
            log_mel(speech, config, len(track))
        t3 = time.perf_counter()
        log_mel(speech, config, len(track))
        t4 = time.perf_counter()
        for k, v in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            out[k].append(v)
    return {k: statistics.median(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=None, help="existing corpus (default: synthesise eggemo synth's defaults)")
    ap.add_argument("--stages", type=int, default=100, help="utterances timed per stage")
    args = ap.parse_args(argv)
    config = FeatureConfig()
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(args.corpus) if args.corpus else Path(tmp) / "corpus"
        if args.corpus is None:
            cc = CorpusConfig()
            wall, cpu, _ = timed(lambda: write_corpus(corpus, cc))
            rows.append(("synthesise corpus (write WAVs)", cc.n_utterances, wall, cpu))
        items = load_corpus(corpus)
        n = len(items)
        extract_features(items[:2], config)  # imports and filter banks, outside the timings
        wall, cpu, ref = timed(lambda: extract_features(items, config))
        rows.append(("extract, no cache", n, wall, cpu))
        cache = Path(tmp) / "cache"
        wall, cpu, cold = timed(lambda: extract_features(items, config, cache_dir=cache))
        rows.append(("extract, empty cache (compute + write)", n, wall, cpu))
        wall, cpu, warm = timed(lambda: extract_features(items, config, cache_dir=cache))
        rows.append(("extract, full cache (read only)", n, wall, cpu))
        assert np.array_equal(ref.logmel, warm.logmel) and np.array_equal(ref.f0, warm.f0)
        stages = stage_times(items, config, min(args.stages, n))
    base = next(r for r in rows if r[0] == "extract, no cache")
    base_rate = base[1] / base[2]
    print(f"corpus: {corpus if args.corpus else 'default synthetic (eggemo synth defaults)'}, {n} utterances, "
          f"T={config.T}, {config.n_mels} Mel bands")
    print()
    print("| step | utterances | wall s | CPU s | utt/s (wall) | utt/s (CPU) | speed vs no cache |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, k, wall, cpu in rows:
        print(f"| {name} | {k} | {wall:.2f} | {cpu:.2f} | {k / wall:.0f} | {k / max(cpu, 1e-9):.0f} "
              f"| {k / wall / base_rate:.2f}x |")
    print()
    print(f"per-utterance stages (median of {min(args.stages, n)} utterances, wall):")
    print()
    print("| stage | ms per utterance | share of the first three |")
    print("|---|---:|---:|")
    total = sum(list(stages.values())[:3])
    for name, s in stages.items():
        print(f"| {name} | {s * 1000:.2f} | {s / total:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
