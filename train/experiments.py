"""`eggemo experiment NAME`: the paper's experiments as sweeps over seeds, each writing a markdown
table (NAME.md), the raw numbers (NAME.json) and a plot (NAME.png) into --out.

    table2  teacher: ResNet18 vs CRNN, on log-Mel vs Mel spectrograms (speech)
    table3  student on EGG F0 alone: BiLSTM depth 1-4 at 256 units, and the edge student
    table4  CMED: teacher, student alone, student + CMED, for the paper's and the edge student
    tau     CMED over the temperature tau (alpha from the config)
    alpha   CMED over the weight alpha (tau from the config; alpha = 0 is the student alone)
    noise   teacher (speech) and students (EGG F0) on test speech mixed with noise at several SNRs
            (the EGG is untouched); --matched also retrains the teacher and the CMED student at
            each SNR instead of only evaluating the clean-trained models

Each seed draws its own split (data.split_seed = seed) and its own initialisation (run.seed = seed);
tables give mean ± sample standard deviation over the seeds of the test UA and WA. Every run keeps
its folder under OUT/runs/, and a finished run whose settings match is reused, so an interrupted
sweep resumes where it stopped. The student's feature_dim is set to the teacher's feature size.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cli import add_common, config_from_args, load_features, run_training
from .config import Config, replace, student_size, to_dict
from .featureset import FeatureSet

NAMES = ("table2", "table3", "table4", "tau", "alpha", "noise")


@dataclass
class Ctx:
    cfg: Config
    fs: FeatureSet
    fc: dict[str, Any]
    out: Path
    seeds: list[int]
    args: argparse.Namespace
    corpus: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)


def teacher_feature_dim(cfg: Config) -> int:
    return 8 * cfg.teacher.width if cfg.teacher.arch == "resnet18" else 2 * cfg.teacher.rnn_hidden


def for_seed(cfg: Config, seed: int, **changes: dict[str, Any]) -> Config:
    run = {"seed": seed, "progress": False, **changes.pop("run", {})}
    data = {"split_seed": seed, **changes.pop("data", {})}
    return replace(cfg, run=run, data=data, **changes)


def student_cfg(cfg: Config, size: str | None) -> dict[str, Any]:
    base = student_size(size) if size else {"layers": cfg.student.layers, "hidden": cfg.student.hidden,
                                            "stack": cfg.student.stack}
    return {**base, "feature_dim": teacher_feature_dim(cfg)}


def student_tag(sc: dict[str, Any]) -> str:
    """Run-name part for a student: "2x64", or "2x48s3" when it stacks frames."""
    stack = sc.get("stack", 1)
    return f"{sc['layers']}x{sc['hidden']}" + (f"s{stack}" if stack > 1 else "")


def run_once(ctx: Ctx, mode: str, cfg: Config, name: str, *, teacher: Path | None = None,
             fs: FeatureSet | None = None, fc: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or reuse) one run and return its test summary."""
    out = ctx.out / "runs" / name / f"seed{cfg.run.seed}"
    settings = {"mode": mode, "config": to_dict(replace(cfg, run={"progress": False})),
                "teacher": str(teacher) if teacher else None, "features": fc or ctx.fc}
    done = out / "test_results.json"
    if done.exists():
        prev = json.loads(done.read_text())
        if _reuse_key(prev.get("settings")) == _reuse_key(settings):
            print(f"  reuse {name} seed {cfg.run.seed}: UA {prev['ua']:.3f}", flush=True)
            return prev
    t0 = time.perf_counter()
    print(f"  train {name} seed {cfg.run.seed} ...", flush=True)
    summary = run_training(mode, cfg, fs or ctx.fs, fc or ctx.fc, out, teacher_ckpt=teacher, tsne=False)
    summary["settings"] = settings
    summary["wall_seconds"] = time.perf_counter() - t0
    done.write_text(json.dumps(summary, indent=2))
    print(f"  done  {name} seed {cfg.run.seed}: UA {summary['ua']:.3f} WA {summary['wa']:.3f} "
          f"({summary['epochs_run']} epochs, {summary['wall_seconds']:.0f} s)", flush=True)
    return summary


def _reuse_key(settings: dict[str, Any] | None) -> Any:
    """Settings that decide a run's result: everything but the run section's device, thread
    count and progress bars, and the sections the run's mode never reads (a teacher does not
    depend on the student or distillation settings, a student alone not on distillation's), so
    `tau --size edge` reuses the teachers that `table4` trained."""
    if not settings:
        return None
    cfg = dict(settings["config"])
    cfg["run"] = {"seed": cfg["run"]["seed"]}
    cfg["student"] = {"stack": 1, **cfg.get("student", {})}   # runs from before `stack` existed
    unused = {"teacher": ("student", "distill"), "student": ("distill",)}.get(settings.get("mode"), ())
    for section in unused:
        cfg.pop(section, None)
    if settings.get("mode") == "student":
        # feature_dim sizes only the projection the distillation loss reads: a student trained
        # alone is the same whatever it is (tests/train/test_loop.py), so table3 (the config's
        # feature_dim) and table4 (the teacher's) share their runs.
        cfg["student"] = {k: v for k, v in cfg["student"].items() if k != "feature_dim"}
    return {**settings, "config": cfg}


def teacher_run(ctx: Ctx, seed: int, cfg: Config | None = None, name: str | None = None,
                fs: FeatureSet | None = None, fc: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    cfg = for_seed(cfg or ctx.cfg, seed)
    name = name or f"teacher_{cfg.teacher.arch}_w{cfg.teacher.width if cfg.teacher.arch == 'resnet18' else cfg.teacher.crnn_width}"
    s = run_once(ctx, "teacher", cfg, name, fs=fs, fc=fc)
    return Path(s["checkpoint"]), s


def add_row(ctx: Ctx, label: str, results: list[dict[str, Any]], *, vs_student: list[dict[str, Any]] | None = None,
            **extra: Any) -> dict[str, Any]:
    """One table row: mean ± sd over seeds. With `vs_student` (the student-alone runs of the same
    seeds, which share the split and the initialisation), also the seed-by-seed UA difference to
    it, i.e. what distillation changed."""
    ua = np.array([r["ua"] for r in results])
    wa = np.array([r["wa"] for r in results])
    row = {"label": label, "ua": ua.tolist(), "wa": wa.tolist(), "seeds": ctx.seeds[:len(results)],
           "ua_mean": float(ua.mean()), "ua_sd": float(ua.std(ddof=1)) if len(ua) > 1 else 0.0,
           "wa_mean": float(wa.mean()), "wa_sd": float(wa.std(ddof=1)) if len(wa) > 1 else 0.0,
           "epochs": [r["epochs_run"] for r in results], **extra}
    if vs_student is not None:
        d = ua - np.array([r["ua"] for r in vs_student])
        row["ua_diff_vs_student_mean"] = float(d.mean())
        row["ua_diff_vs_student_sd"] = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    ctx.rows.append(row)
    print(f"{label}: UA {100 * row['ua_mean']:.1f} ± {100 * row['ua_sd']:.1f}", flush=True)
    return row


# --- the experiments -------------------------------------------------------------------------

def table2(ctx: Ctx) -> None:
    mel = FeatureSet(np.exp(ctx.fs.logmel), ctx.fs.f0, ctx.fs.labels, ctx.fs.label_names,
                     ctx.fs.speakers, ctx.fs.utt_ids)
    mel_fc = {**ctx.fc, "input": "mel (exp of log-Mel)"}
    for arch in ("resnet18", "crnn"):
        cfg = replace(ctx.cfg, teacher={"arch": arch})
        for feat, fs, fc in (("log-Mel", None, None), ("Mel", mel, mel_fc)):
            name = None if feat == "log-Mel" else f"teacher_{arch}_mel"
            res = [teacher_run(ctx, s, cfg, name=name, fs=fs, fc=fc)[1] for s in ctx.seeds]
            add_row(ctx, f"{arch} on {feat}", res, arch=arch, input=feat)


def table3(ctx: Ctx) -> None:
    for layers in ctx.args.layers:
        res = [run_once(ctx, "student", for_seed(ctx.cfg, s, student={"layers": layers, "hidden": 256, "stack": 1}),
                        f"student_{layers}x256") for s in ctx.seeds]
        add_row(ctx, f"BiLSTM {layers} x 256", res, layers=layers, hidden=256)
    edge = student_size("edge")
    res = [run_once(ctx, "student", for_seed(ctx.cfg, s, student=edge), f"student_{student_tag(edge)}")
           for s in ctx.seeds]
    add_row(ctx, f"edge BiLSTM {edge['layers']} x {edge['hidden']}, stack {edge['stack']}", res, **edge)


def _alone(ctx: Ctx, size: str | None, seed: int) -> dict[str, Any]:
    sc = student_cfg(ctx.cfg, size)
    return run_once(ctx, "student", for_seed(ctx.cfg, seed, student=sc), f"student_{student_tag(sc)}")


def _cmed(ctx: Ctx, size: str | None, seed: int, teacher: Path, **distill: float) -> dict[str, Any]:
    sc = student_cfg(ctx.cfg, size)
    d = {"tau": ctx.cfg.distill.tau, "alpha": ctx.cfg.distill.alpha, **distill}
    name = f"cmed_{student_tag(sc)}_tau{d['tau']:g}_alpha{d['alpha']:g}"
    return run_once(ctx, "distill", for_seed(ctx.cfg, seed, student=sc, distill=d), name, teacher=teacher)


def table4(ctx: Ctx) -> None:
    teachers = [teacher_run(ctx, s) for s in ctx.seeds]
    add_row(ctx, f"teacher {ctx.cfg.teacher.arch} (speech log-Mel)", [t[1] for t in teachers], role="teacher")
    for size in ctx.args.sizes:
        sc = student_cfg(ctx.cfg, size)
        alone = [_alone(ctx, size, s) for s in ctx.seeds]
        add_row(ctx, f"{size} student {student_tag(sc)} (EGG F0)", alone, role="student", size=size)
        add_row(ctx, f"{size} student + CMED", [_cmed(ctx, size, s, t[0]) for s, t in zip(ctx.seeds, teachers)],
                vs_student=alone, role="cmed", size=size)


def _cmed_sweep(ctx: Ctx, key: str, values) -> None:
    """Student alone, then CMED with `key` (tau or alpha) set to each value; same seeds and teachers."""
    teachers = [teacher_run(ctx, s)[0] for s in ctx.seeds]
    alone = [_alone(ctx, ctx.args.size, s) for s in ctx.seeds]
    add_row(ctx, "student alone", alone, **{key: None})
    for v in values:
        res = [_cmed(ctx, ctx.args.size, s, t, **{key: float(v)}) for s, t in zip(ctx.seeds, teachers)]
        add_row(ctx, f"CMED {key} = {v:g}", res, vs_student=alone, **{key: float(v)})


def tau(ctx: Ctx) -> None:
    _cmed_sweep(ctx, "tau", ctx.args.taus)


def alpha(ctx: Ctx) -> None:
    _cmed_sweep(ctx, "alpha", ctx.args.alphas)


def noise(ctx: Ctx) -> None:
    from .evaluate import evaluate
    from .checkpoint import load_checkpoint
    from .cli import make_splits
    from .noise import NoiseConfig

    if ctx.corpus is None:
        raise ValueError("the noise experiment re-extracts features with noisy speech: give --corpus")
    clean = [teacher_run(ctx, s) for s in ctx.seeds]
    alone = [_alone(ctx, ctx.args.size, s) for s in ctx.seeds]
    cmed = [_cmed(ctx, ctx.args.size, s, t[0]) for s, t in zip(ctx.seeds, clean)]
    for snr in [None, *ctx.args.snrs]:
        if snr is None:
            fs, fc, label = ctx.fs, ctx.fc, "clean"
        else:
            nc = NoiseConfig(kind=ctx.args.noise, snr_db=float(snr), path=ctx.args.noise_file)
            fs, fc = load_features(ctx.cfg, corpus=ctx.corpus, noise=nc, progress=False)
            fc = {**fc, "noise": {"kind": ctx.args.noise, "snr_db": float(snr)}}
            label = f"{snr:g} dB"
        f0_change = float(np.max(np.abs(fs.f0 - ctx.fs.f0)))
        scores: dict[str, list[dict[str, float]]] = {"teacher": [], "student": [], "cmed": []}
        for i, seed in enumerate(ctx.seeds):
            test = fs.subset(make_splits(fs, for_seed(ctx.cfg, seed))["test"])
            if ctx.args.matched and snr is not None:
                tpath, tsum = teacher_run(ctx, seed, name=f"teacher_snr{snr:g}", fs=fs, fc=fc)
                sc = student_cfg(ctx.cfg, ctx.args.size)
                csum = run_once(ctx, "distill", for_seed(ctx.cfg, seed, student=sc),
                                f"cmed_{student_tag(sc)}_snr{snr:g}", teacher=tpath, fs=fs, fc=fc)
                runs = {"teacher": tsum, "student": alone[i], "cmed": csum}
            else:
                runs = {"teacher": clean[i][1], "student": alone[i], "cmed": cmed[i]}
            for role, summary in runs.items():
                model, ck = load_checkpoint(summary["checkpoint"])
                r = evaluate(model, ck["arch"], test)
                scores[role].append({"ua": r.ua, "wa": r.wa, "epochs_run": summary["epochs_run"]})
        for role, res in scores.items():
            add_row(ctx, f"{role} @ {label}", res, role=role, snr_db=snr, f0_max_abs_change=f0_change)


EXPERIMENTS: dict[str, Callable[[Ctx], None]] = {"table2": table2, "table3": table3, "table4": table4,
                                                 "tau": tau, "alpha": alpha, "noise": noise}
TITLES = {"table2": "Teacher models on speech (Table 2)", "table3": "Student models on EGG F0 (Table 3)",
          "table4": "Cross-modal emotion distillation (Table 4)", "tau": "CMED temperature sweep",
          "alpha": "CMED weight sweep", "noise": "Robustness to speech noise"}


# --- output ------------------------------------------------------------------------------------

def pm(mean: float, sd: float) -> str:
    return f"{100 * mean:.1f} ± {100 * sd:.1f}"


def markdown(ctx: Ctx, name: str, seconds: float) -> str:
    paired = any("ua_diff_vs_student_mean" in r for r in ctx.rows)
    lines = [f"## {TITLES[name]}", "",
             f"Test UA / WA in %, mean ± sd over seeds {ctx.seeds} (each seed: its own split and init). "
             f"{len(ctx.fs)} utterances, {len(ctx.fs.label_names)} classes (chance UA "
             f"{100 / len(ctx.fs.label_names):.1f} %)."
             + (" ΔUA: CMED minus the student alone seed by seed (same split, init and teacher), mean ± sd."
                if paired else ""), "",
             "| setting | UA (%) | WA (%) | " + ("ΔUA vs student (points) | " if paired else "") + "epochs run |",
             "|---|---|---|" + ("---|" if paired else "") + "---|"]
    for r in ctx.rows:
        diff = ""
        if paired:
            if "ua_diff_vs_student_mean" in r:
                diff = f"{100 * r['ua_diff_vs_student_mean']:+.1f} ± {100 * r['ua_diff_vs_student_sd']:.1f}"
            diff += " | "
        lines.append(f"| {r['label']} | {pm(r['ua_mean'], r['ua_sd'])} | {pm(r['wa_mean'], r['wa_sd'])} | {diff}"
                     f"{', '.join(str(e) for e in r['epochs'])} |")
    if name == "noise":
        changes = sorted({r["f0_max_abs_change"] for r in ctx.rows})
        lines += ["", f"Largest change of any F0 input value between clean and noisy extraction: {max(changes):.3g} "
                  f"(the noise is added to the speech channel only)."]
    cfg = ctx.cfg
    lines += ["", f"Settings: config `{ctx.args.config}`, overrides {ctx.args.overrides or 'none'}; "
              f"teacher {cfg.teacher.arch} (width {cfg.teacher.width}), optim {to_dict(cfg)['optim']}, "
              f"distill tau {cfg.distill.tau} alpha {cfg.distill.alpha}, data {to_dict(cfg)['data']}. "
              f"Wall time {seconds / 60:.1f} min.", ""]
    return "\n".join(lines)


def plot(ctx: Ctx, name: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    if name in ("tau", "alpha"):
        pts = [r for r in ctx.rows if r.get(name) is not None]
        x = [r[name] for r in pts]
        ax.errorbar(x, [100 * r["ua_mean"] for r in pts], [100 * r["ua_sd"] for r in pts], marker="o",
                    capsize=3, label="student + CMED")
        base = next((r for r in ctx.rows if r.get(name) is None), None)
        if base:
            ax.axhline(100 * base["ua_mean"], color="gray", ls="--", label="student alone")
        ax.set_xlabel(name)
        if name == "tau":
            ax.set_xscale("log", base=2)
        ax.legend()
    elif name == "noise":
        snrs = []
        for role in ("teacher", "student", "cmed"):
            pts = [r for r in ctx.rows if r["role"] == role]
            snrs = [r["snr_db"] for r in pts]
            pos = list(range(len(pts)))
            ax.errorbar(pos, [100 * r["ua_mean"] for r in pts], [100 * r["ua_sd"] for r in pts], marker="o",
                        capsize=3, label={"teacher": "teacher (speech)", "student": "student (EGG F0)",
                                          "cmed": "student + CMED (EGG F0)"}[role])
        ax.set_xticks(range(len(snrs)), ["clean" if s is None else f"{s:g} dB" for s in snrs])
        ax.set_xlabel(f"speech SNR ({ctx.args.noise} noise)")
        ax.legend()
    else:
        y = np.arange(len(ctx.rows))[::-1]
        ax.barh(y, [100 * r["ua_mean"] for r in ctx.rows], xerr=[100 * r["ua_sd"] for r in ctx.rows], capsize=3)
        ax.set_yticks(y, [r["label"] for r in ctx.rows])
        ax.axvline(100 / len(ctx.fs.label_names), color="gray", ls="--", label="chance")
        ax.legend()
    ax.set_ylabel("test UA (%)") if name in ("tau", "alpha", "noise") else ax.set_xlabel("test UA (%)")
    ax.set_title(TITLES[name])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- command line ------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=NAMES)
    add_common(p)
    p.add_argument("--out", default="runs/experiments", help="output folder (default runs/experiments)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sizes", nargs="+", choices=("paper", "edge"), default=["paper", "edge"],
                   help="table4: student sizes")
    p.add_argument("--size", choices=("paper", "edge"), help="tau/alpha/noise: student size (default: config's)")
    p.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3, 4], help="table3: BiLSTM depths at 256 units")
    p.add_argument("--taus", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    p.add_argument("--snrs", type=float, nargs="+", default=[20.0, 10.0, 5.0, 0.0, -5.0])
    p.add_argument("--noise", default="white", help="noise kind: white, babble or file")
    p.add_argument("--noise-file", help="noise WAV for --noise file")
    p.add_argument("--matched", action="store_true", help="noise: also retrain teacher and CMED student per SNR")


def main(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        cfg = config_from_args(args)
        fs, fc = load_features(cfg, corpus=args.corpus, features=args.features, progress=cfg.run.progress)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        ctx = Ctx(cfg=cfg, fs=fs, fc=fc, out=out, seeds=list(args.seeds), args=args, corpus=args.corpus)
        print(f"experiment {args.name}: {len(fs)} utterances, seeds {ctx.seeds}", flush=True)
        EXPERIMENTS[args.name](ctx)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eggemo experiment: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    md = markdown(ctx, args.name, seconds)
    (out / f"{args.name}.md").write_text(md)
    (out / f"{args.name}.json").write_text(json.dumps({"name": args.name, "rows": ctx.rows,
                                                       "config": to_dict(cfg), "seconds": seconds}, indent=2))
    plot(ctx, args.name, out / f"{args.name}.png")
    print(md)
    return 0
