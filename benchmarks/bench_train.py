"""Training benchmark: throughput of each model, and the `fast` config end to end.

    .venv/bin/python benchmarks/bench_train.py            # throughput table
    .venv/bin/python benchmarks/bench_train.py --e2e      # + synth -> features -> teacher, student, CMED

Throughput: utterances per second of one optimiser step (forward, backward, Adam) at batch 16 and
of inference at batch 64, on inputs of the default shape (80 x 300 log-Mel, 300 x 2 F0), on the
CPU (and CUDA when present). Ratios are against the paper's teacher (ResNet18) measured in the same
run. The "denormals kept" row is the earlier 2x64 edge student (300 steps) without the
flush-to-zero that train() turns on, to show why it does.

End to end: `eggemo synth` with its defaults into a temp folder, feature extraction (cold cache),
then teacher, student and distillation with configs/fast.toml; wall time of each stage.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from eggemo.train.models import STUDENT_SIZES, build_model, count_parameters

REPO = Path(__file__).resolve().parents[1]
EARLIER_EDGE = {"layers": 2, "hidden": 64}   # the edge student before frame stacking: 300 LSTM steps


def _student(kind: str) -> str:
    sz = STUDENT_SIZES[kind]
    return f"student {sz['layers']}x{sz['hidden']}" + (f" stack {sz['stack']}" if sz.get("stack", 1) > 1 else "")


MODELS = [
    ("teacher ResNet18 (paper)", "resnet18", {}),
    ("teacher ResNet18 width 16 (fast)", "resnet18", {"width": 16}),
    ("teacher CRNN", "crnn", {}),
    (f"{_student('paper')} (paper)", "bilstm_student", STUDENT_SIZES["paper"]),
    (f"{_student('edge')} (edge)", "bilstm_student", STUDENT_SIZES["edge"]),
    ("student 2x64 (earlier edge)", "bilstm_student", EARLIER_EDGE),
]


def batch(arch: str, n: int, device: torch.device) -> torch.Tensor:
    shape = (n, 300, 2) if arch == "bilstm_student" else (n, 80, 300)
    return torch.randn(*shape, device=device)


def rate(fn, n_utts: int, min_seconds: float) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    done, t0 = 0, time.perf_counter()
    while True:
        fn()
        done += n_utts
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if dt >= min_seconds and done >= 2 * n_utts:
            return done / dt


def throughput(arch: str, kw: dict, device: torch.device, min_seconds: float) -> tuple[int, float, float]:
    torch.manual_seed(0)
    model = build_model(arch, n_classes=7, **kw).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = batch(arch, 16, device), torch.randint(0, 7, (16,), device=device)
    xi = batch(arch, 64, device)

    def step():
        model.train()
        loss = F.cross_entropy(model(x)[0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    @torch.no_grad()
    def infer():
        model.eval()
        model(xi)

    return count_parameters(model, deployed_only=True), rate(step, 16, min_seconds), rate(infer, 64, min_seconds)


def throughput_table(device: torch.device, min_seconds: float) -> None:
    load = ", load average %.1f %.1f %.1f" % os.getloadavg() if device.type == "cpu" else ""
    print(f"\n## Training throughput on {device} ({torch.get_num_threads()} threads{load}), batch 16, T = 300\n")
    print("| model | parameters (deployed) | train utt/s | × ResNet18 | inference utt/s | × ResNet18 |")
    print("|---|---|---|---|---|---|")
    base = None
    rows = list(MODELS)
    if device.type == "cpu":
        rows.append(("student 2x64 (earlier edge), denormals kept", "bilstm_student", EARLIER_EDGE))
    for name, arch, kw in rows:
        torch.set_flush_denormal(device.type == "cpu" and "denormals kept" not in name)
        n, tr, inf = throughput(arch, kw, device, min_seconds)
        base = base or (tr, inf)
        print(f"| {name} | {n:,} | {tr:.1f} | {tr / base[0]:.2f} | {inf:.1f} | {inf / base[1]:.2f} |", flush=True)
    torch.set_flush_denormal(True)


def end_to_end(corpus: Path | None) -> None:
    from eggemo.train.cli import load_features, run_training
    from eggemo.train.config import load_config, replace

    cfg = load_config(REPO / "configs" / "fast.toml")
    cfg = replace(cfg, run={"progress": False})
    stages: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_all = time.perf_counter()
        if corpus is None:
            from eggemo.train.synth_corpus import CorpusConfig, write_corpus
            t0 = time.perf_counter()
            write_corpus(tmp / "corpus", CorpusConfig(), progress=False)
            stages.append(("synth (default corpus)", time.perf_counter() - t0))
            corpus = tmp / "corpus"
        cfg = replace(cfg, data={"cache_dir": str(tmp / "cache")})
        t0 = time.perf_counter()
        fs, fc = load_features(cfg, corpus=corpus, progress=False)
        stages.append((f"features, cold cache ({len(fs)} utterances)", time.perf_counter() - t0))
        results = {}
        for mode in ("teacher", "student", "distill"):
            t0 = time.perf_counter()
            teacher = tmp / "teacher" / "best.pt" if mode == "distill" else None
            s = run_training(mode, cfg, fs, fc, tmp / mode, teacher_ckpt=teacher, tsne=False)
            results[mode] = s
            stages.append((f"train {mode} ({s['epochs_run']} epochs, test UA {s['ua']:.3f})", time.perf_counter() - t0))
        total = time.perf_counter() - t_all
    print(f"\n## configs/fast.toml end to end on the CPU ({torch.get_num_threads()} threads)\n")
    print("| stage | wall time (s) | share |")
    print("|---|---|---|")
    for name, sec in stages:
        print(f"| {name} | {sec:.1f} | {sec / total:.2f} |")
    print(f"| **total** | **{total:.1f}** ({total / 60:.1f} min; target ≤ 10 min) | 1.00 |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per measurement")
    p.add_argument("--e2e", action="store_true", help="also run the fast config end to end")
    p.add_argument("--corpus", type=Path, help="e2e: use this corpus instead of synthesising one")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    throughput_table(torch.device("cpu"), args.seconds)
    if torch.cuda.is_available():
        throughput_table(torch.device("cuda"), args.seconds)
    if args.e2e or args.corpus:
        end_to_end(args.corpus)


if __name__ == "__main__":
    main()
