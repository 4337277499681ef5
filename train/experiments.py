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

from eggemo.options import NOISE_KINDS, SHARED

from .cli import REPO_CONFIGS, TEACHER_BLIND, add_common, config_from_args, load_features, run_training
from .config import Config, replace, student_size, to_dict
from .featureset import FeatureSet

NAMES = ("table2", "table3", "table4", "tau", "alpha", "noise", "recipes", "budget", "crosscorpus")


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
    paired: list[dict[str, Any]] = field(default_factory=list)
    speaker_groups: list[list[str]] | None = None   # --protocol speakers: fold k's test speakers

    def seed_cfg(self, seed: int, cfg: Config | None = None, **changes: dict[str, Any]) -> Config:
        """for_seed, with fold `seed`'s held-out speakers under the speaker protocol."""
        if self.speaker_groups is not None:
            changes["data"] = {"test_speakers": self.speaker_groups[seed], **changes.get("data", {})}
        return for_seed(cfg or self.cfg, seed, **changes)


def teacher_feature_dim(cfg: Config, n_mels: int = 80) -> int:
    if cfg.teacher.arch == "crnn":
        return 2 * cfg.teacher.rnn_hidden
    return 8 * cfg.teacher.width + (2 * n_mels if cfg.teacher.band_moments else 0)


def for_seed(cfg: Config, seed: int, **changes: dict[str, Any]) -> Config:
    """The config of one seed: its own split (data.split_seed = seed) and initialisation. Under a
    speaker-fold protocol (data.split = "speaker" with test_speakers "fold:K" set by --protocol),
    seed k holds out the k-th of K speaker groups instead."""
    run = {"seed": seed, "progress": False, **changes.pop("run", {})}
    data = {"split_seed": seed, **changes.pop("data", {})}
    return replace(cfg, run=run, data=data, **changes)


def speaker_folds(speakers: np.ndarray, k: int) -> list[list[str]]:
    """k groups of held-out speakers: the sorted speakers dealt round-robin."""
    names = sorted(set(np.asarray(speakers).astype(str).tolist()))
    if not 2 <= k <= len(names):
        raise ValueError(f"--folds {k}: need 2 .. {len(names)} (the corpus has {len(names)} speakers)")
    return [names[i::k] for i in range(k)]


def protocol_config(cfg: Config, fs: FeatureSet, protocol: str, folds: int) -> tuple[Config, list[list[str]] | None]:
    if protocol == "stratified":
        return replace(cfg, data={"split": "stratified"}), None
    groups = speaker_folds(fs.speakers, folds)
    return replace(cfg, data={"split": "speaker", "test_speakers": groups[0]}), groups


def student_cfg(cfg: Config, size: str | None, n_mels: int = 80) -> dict[str, Any]:
    """The student section of a run: a named BiLSTM size, or the config's own student."""
    base = ({"arch": "bilstm_student", **student_size(size)} if size else
            {"arch": cfg.student.arch, "layers": cfg.student.layers, "hidden": cfg.student.hidden,
             "stack": cfg.student.stack, "width": cfg.student.width})
    return {**base, "feature_dim": teacher_feature_dim(cfg, n_mels)}


def student_tag(sc: dict[str, Any]) -> str:
    """Run-name part for a student: "2x64", "2x48s3" when it stacks frames, "cnn4x64" for the CNN."""
    if sc.get("arch") == "cnn_student":
        return f"cnn{sc['layers']}x{sc['width']}"
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
    depend on the student or distillation settings, a student alone not on the teacher's or
    distillation's, nor a teacher on the frame channels), so `tau --size edge` reuses the teachers
    that `table4` trained and a new teacher recipe reuses the students trained alone."""
    if not settings:
        return None
    cfg = dict(settings["config"])
    cfg["run"] = {"seed": cfg["run"]["seed"]}
    cfg["student"] = {"stack": 1, **cfg.get("student", {})}   # runs from before `stack` existed
    unused = {"teacher": ("student", "distill"), "student": ("teacher", "distill")}.get(settings.get("mode"), ())
    for section in unused:
        cfg.pop(section, None)
    if "augment" in cfg:
        # SpecAugment acts on teachers only, the frame augmentations on students only (augment.py)
        # (a distillation from cross-fitted teachers trains teachers too: it reads both)
        spec = ("spec_freq_mask", "spec_time_mask")
        mode = settings.get("mode")
        trains_teachers = mode == "distill" and cfg.get("distill", {}).get("source") == "crossfit_teacher"
        if mode == "teacher":
            cfg["augment"] = {k: v for k, v in cfg["augment"].items() if k in spec or k == "mixup"}
        elif not trains_teachers:
            cfg["augment"] = {k: v for k, v in cfg["augment"].items() if k not in spec}
    if settings.get("mode") == "teacher":
        # a teacher reads the log-Mel only (cli.TEACHER_BLIND): one trained beside nine frame
        # channels is the same teacher for a student on six
        cfg["features"] = {k: v for k, v in cfg.get("features", {}).items() if k not in TEACHER_BLIND}
        settings = {**settings, "features": {k: v for k, v in (settings.get("features") or {}).items()
                                             if k not in TEACHER_BLIND}}
    if settings.get("mode") == "student":
        # feature_dim sizes only the projection the distillation loss reads: a student trained
        # alone is the same whatever it is (tests/train/test_loop.py), so table3 (the config's
        # feature_dim) and table4 (the teacher's) share their runs.
        cfg["student"] = {k: v for k, v in cfg["student"].items() if k != "feature_dim"}
    return {**settings, "config": cfg}


def teacher_run(ctx: Ctx, seed: int, cfg: Config | None = None, name: str | None = None,
                fs: FeatureSet | None = None, fc: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    cfg = ctx.seed_cfg(seed, cfg)
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


FLOORS = (("f0", "floor: logistic regression on F0 statistics"),
          ("spectral", "floor: logistic regression on band statistics"))


FRAMES_FLOOR = ("frames", "floor: logistic regression on statistics of every frame channel")


def floor_rows(ctx: Ctx, frames: bool = False) -> dict[str, list[dict[str, Any]]]:
    """The two simple baselines on the very splits of every seed: fit on the training and
    validation parts (what the deep model learns from), score on the test part. frames: also a
    regression on statistics of every channel the student reads (baselines.frame_statistics)."""
    from .baselines import fit_score, frame_statistics, statistics
    from .cli import make_splits

    stats = statistics(ctx.fs)
    floors = FLOORS
    if frames and len(ctx.fs.f0_channels) > 2:
        stats["frames"] = frame_statistics(ctx.fs, stats["f0"])
        floors = FLOORS + (FRAMES_FLOOR,)
    k = len(ctx.fs.label_names)
    out: dict[str, list[dict[str, Any]]] = {}
    for key, label in floors:
        res = []
        for seed in ctx.seeds:
            sp = make_splits(ctx.fs, ctx.seed_cfg(seed))
            acc, ua, wa = fit_score(stats[key], ctx.fs.labels, np.concatenate([sp["train"], sp["val"]]), sp["test"], k)
            res.append({"ua": ua, "wa": wa, "epochs_run": 0})
        add_row(ctx, label, res, role=f"floor_{key}")
        out[key] = res
    return out


# --- the experiments -------------------------------------------------------------------------

def table2(ctx: Ctx) -> None:
    floor_rows(ctx)
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
    floor_rows(ctx)
    for layers in ctx.args.layers:
        res = [run_once(ctx, "student", ctx.seed_cfg(s, student={"arch": "bilstm_student", "layers": layers, "hidden": 256, "stack": 1}),
                        f"student_{layers}x256") for s in ctx.seeds]
        add_row(ctx, f"BiLSTM {layers} x 256", res, layers=layers, hidden=256)
    edge = student_size("edge")
    res = [run_once(ctx, "student", ctx.seed_cfg(s, student={"arch": "bilstm_student", **edge}), f"student_{student_tag(edge)}")
           for s in ctx.seeds]
    add_row(ctx, f"edge BiLSTM {edge['layers']} x {edge['hidden']}, stack {edge['stack']}", res, **edge)


def _alone(ctx: Ctx, size: str | None, seed: int) -> dict[str, Any]:
    sc = student_cfg(ctx.cfg, size, int(ctx.fs.logmel.shape[1]))
    return run_once(ctx, "student", ctx.seed_cfg(seed, student=sc), f"student_{student_tag(sc)}")


def _cmed(ctx: Ctx, size: str | None, seed: int, teacher: Path, **distill: float) -> dict[str, Any]:
    sc = student_cfg(ctx.cfg, size, int(ctx.fs.logmel.shape[1]))
    # CMED distils from the teacher it is given, whatever source the config's own distillation reads
    d = {"tau": ctx.cfg.distill.tau, "alpha": ctx.cfg.distill.alpha, "source": "teacher", **distill}
    name = f"cmed_{student_tag(sc)}_tau{d['tau']:g}_alpha{d['alpha']:g}"
    return run_once(ctx, "distill", ctx.seed_cfg(seed, student=sc, distill=d), name, teacher=teacher)


def table4(ctx: Ctx) -> None:
    floor_rows(ctx)
    teachers = [teacher_run(ctx, s) for s in ctx.seeds]
    add_row(ctx, f"teacher {ctx.cfg.teacher.arch} (speech log-Mel)", [t[1] for t in teachers], role="teacher")
    for size in ctx.args.sizes:
        sc = student_cfg(ctx.cfg, size, int(ctx.fs.logmel.shape[1]))
        alone = [_alone(ctx, size, s) for s in ctx.seeds]
        add_row(ctx, f"{size} student {student_tag(sc)} (EGG F0)", alone, role="student", size=size)
        add_row(ctx, f"{size} student + CMED", [_cmed(ctx, size, s, t[0]) for s, t in zip(ctx.seeds, teachers)],
                vs_student=alone, role="cmed", size=size)


def _cmed_sweep(ctx: Ctx, key: str, values) -> None:
    """Student alone, then CMED with `key` (tau or alpha) set to each value; same seeds and teachers."""
    floor_rows(ctx)
    teachers = [teacher_run(ctx, s)[0] for s in ctx.seeds]
    alone = [_alone(ctx, ctx.args.size, s) for s in ctx.seeds]
    add_row(ctx, "student alone", alone, **{key: None})
    for v in values:
        res = [_cmed(ctx, ctx.args.size, s, t, **{key: float(v)}) for s, t in zip(ctx.seeds, teachers)]
        add_row(ctx, f"CMED {key} = {v:g}", res, vs_student=alone, **{key: float(v)})


def paired(ctx: Ctx, what: str, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed-by-seed UA difference a - b (same splits), its mean, sd and 95 % t interval."""
    from scipy import stats

    d = np.array([x["ua"] for x in a]) - np.array([x["ua"] for x in b])
    n = len(d)
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
    row = {"what": what, "n": n, "diff": d.tolist(), "mean": float(d.mean()), "sd": sd,
           "ci95": [float(d.mean() - half), float(d.mean() + half)]}
    ctx.paired.append(row)
    print(f"{what}: {100 * row['mean']:+.1f} points, 95 % CI [{100 * row['ci95'][0]:+.1f}, "
          f"{100 * row['ci95'][1]:+.1f}]", flush=True)
    return row


def recipes(ctx: Ctx) -> None:
    """The floors, the paper's recipe (--paper-config) and this config's recipe on the same splits
    and seeds, with the paired differences the recipe has to win: student vs the F0-statistics
    regression, teacher vs the band-statistics regression, distillation vs the student alone."""
    from .config import load_config

    floors = floor_rows(ctx, frames=True)
    data, run = to_dict(ctx.cfg)["data"], to_dict(ctx.cfg)["run"]
    paper = replace(load_config(ctx.args.paper_config, ctx.args.paper_set), data=data, run=run)
    paper_inputs = ["log_f0", "voiced"]
    idx = [ctx.fs.f0_channels.index(c) for c in paper_inputs]
    fs_p = FeatureSet(ctx.fs.logmel, ctx.fs.f0[:, :, idx], ctx.fs.labels, ctx.fs.label_names, ctx.fs.speakers,
                      ctx.fs.utt_ids, tuple(paper_inputs))
    fc_p = {**ctx.fc, "student_inputs": paper_inputs}
    parts = set(ctx.args.parts)
    rows: dict[str, list[dict[str, Any]]] = {}
    paper_want = ({"teacher", "student", "distill"} if "paper" in parts else
                  {"student"} if "paper-student" in parts else set())
    recipes_run = (("paper", paper, fs_p, fc_p),) if paper_want else ()
    for tag, cfg, fs, fc in recipes_run + (("eggemo", ctx.cfg, None, None),):
        who = "paper's recipe" if tag == "paper" else "eggemo recipe"
        want = paper_want if tag == "paper" else parts
        teachers = []
        if "teacher" in want or ("distill" in want and cfg.distill.source == "teacher"):
            tname = f"{tag}_teacher_{cfg.teacher.arch}_w{cfg.teacher.width}"
            teachers = [teacher_run(ctx, s, cfg, name=tname, fs=fs, fc=fc) for s in ctx.seeds]
            rows[tag + "_teacher"] = [t[1] for t in teachers]
            add_row(ctx, f"{who}: teacher {cfg.teacher.arch} w{cfg.teacher.width} (speech log-Mel)",
                    rows[tag + "_teacher"], role=f"{tag}_teacher")
        sc = student_cfg(cfg, "edge" if tag == "paper" else None, int(ctx.fs.logmel.shape[1]))
        if want & {"student", "distill"}:
            rows[tag + "_student"] = [run_once(ctx, "student", ctx.seed_cfg(s, cfg, student=sc),
                                               f"{tag}_student_{student_tag(sc)}", fs=fs, fc=fc) for s in ctx.seeds]
            add_row(ctx, f"{who}: student {student_tag(sc)} ({', '.join((fs or ctx.fs).f0_channels)})",
                    rows[tag + "_student"], role=f"{tag}_student")
        if "distill" in want:
            d = to_dict(cfg)["distill"]
            crossfit = d["source"] in ("crossfit", "crossfit_teacher")
            src, suffix = {"crossfit": (f"crossfit LR on {d['crossfit_features']} statistics",
                                        f"_crossfit_{d['crossfit_features']}"),
                           "crossfit_teacher": (f"{d['crossfit_folds']} cross-fitted teachers",
                                                f"_crossfit_teacher{d['crossfit_folds']}"),
                           }.get(d["source"], ("the teacher", ""))
            dname = f"{tag}_distill_{student_tag(sc)}_{d['kind']}_tau{d['tau']:g}_alpha{d['alpha']:g}" + suffix
            tpaths = [None] * len(ctx.seeds) if crossfit else [t[0] for t in teachers]
            rows[tag + "_distill"] = [run_once(ctx, "distill", ctx.seed_cfg(s, cfg, student=sc), dname,
                                               teacher=t, fs=fs, fc=fc) for s, t in zip(ctx.seeds, tpaths)]
            add_row(ctx, f"{who}: student + {'CMED' if tag == 'paper' else 'distillation'} ({d['kind']} from "
                         f"{src}, tau {d['tau']:g}, alpha {d['alpha']:g})", rows[tag + "_distill"],
                    vs_student=rows[tag + "_student"], role=f"{tag}_distill")
    for what, a, b in (("eggemo student - LR on F0 statistics", "eggemo_student", "f0"),
                       ("eggemo student - LR on frame-channel statistics", "eggemo_student", "frames"),
                       ("eggemo teacher - LR on band statistics", "eggemo_teacher", "spectral"),
                       ("eggemo distillation - eggemo student alone", "eggemo_distill", "eggemo_student"),
                       ("eggemo student - paper's edge student", "eggemo_student", "paper_student"),
                       ("paper's CMED - paper's edge student", "paper_distill", "paper_student"),
                       ("paper's teacher - LR on band statistics", "paper_teacher", "spectral")):
        ref = floors.get(b) or rows.get(b)
        if a in rows and ref is not None:
            paired(ctx, what, rows[a], ref)


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
    from .baselines import fit_score, statistics

    clean_stats = statistics(ctx.fs)
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
        scores: dict[str, list[dict[str, float]]] = {"teacher": [], "student": [], "cmed": [],
                                                     "floor_f0": [], "floor_spectral": []}
        noisy_stats = statistics(fs)
        for i, seed in enumerate(ctx.seeds):
            sp = make_splits(fs, ctx.seed_cfg(seed))
            test = fs.subset(sp["test"])
            fit = np.concatenate([sp["train"], sp["val"]])
            for key in ("f0", "spectral"):   # fitted on clean statistics, scored on this SNR's
                X = clean_stats[key].copy()
                X[sp["test"]] = noisy_stats[key][sp["test"]]
                _, ua, wa = fit_score(X, fs.labels, fit, sp["test"], len(fs.label_names))
                scores[f"floor_{key}"].append({"ua": ua, "wa": wa, "epochs_run": 0})
            if ctx.args.matched and snr is not None:
                tpath, tsum = teacher_run(ctx, seed, name=f"teacher_snr{snr:g}", fs=fs, fc=fc)
                sc = student_cfg(ctx.cfg, ctx.args.size, int(ctx.fs.logmel.shape[1]))
                csum = run_once(ctx, "distill", ctx.seed_cfg(seed, student=sc, distill={"source": "teacher"}),
                                f"cmed_{student_tag(sc)}_snr{snr:g}", teacher=tpath, fs=fs, fc=fc)
                runs = {"teacher": tsum, "student": alone[i], "cmed": csum}
            else:
                runs = {"teacher": clean[i][1], "student": alone[i], "cmed": cmed[i]}
            for role, summary in runs.items():
                model, ck = load_checkpoint(summary["checkpoint"])
                r = evaluate(model, ck["arch"], test)
                scores[role].append({"ua": r.ua, "wa": r.wa, "epochs_run": summary["epochs_run"]})
        for role, res in scores.items():
            name = dict(FLOORS + (FRAMES_FLOOR,)).get(role.removeprefix("floor_"), role) if role.startswith("floor_") else role
            add_row(ctx, f"{name} @ {label}", res, role=role, snr_db=snr, f0_max_abs_change=f0_change)


def budget(ctx: Ctx) -> None:
    from .budget import budget as run_budget

    run_budget(ctx)


def crosscorpus(ctx: Ctx) -> None:
    from .budget import crosscorpus as run_crosscorpus

    run_crosscorpus(ctx)


EXPERIMENTS: dict[str, Callable[[Ctx], None]] = {"table2": table2, "table3": table3, "table4": table4,
                                                 "tau": tau, "alpha": alpha, "noise": noise, "recipes": recipes,
                                                 "budget": budget, "crosscorpus": crosscorpus}
TITLES = {"table2": "Teacher models on speech (Table 2)", "table3": "Student models on EGG F0 (Table 3)",
          "table4": "Cross-modal emotion distillation (Table 4)", "tau": "CMED temperature sweep",
          "alpha": "CMED weight sweep", "noise": "Robustness to speech noise",
          "recipes": "The paper's recipe and eggemo's, beside the floors",
          "budget": "Label budget: the student, self-training and a speech teacher on partly labelled data",
          "crosscorpus": "Zero target labels: a speech teacher from another corpus, through a class map"}


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
    if name == "budget":
        from .budget import matrix_markdown

        lines[2:2] = matrix_markdown(ctx) + ["Every row:", ""]
    for r in ctx.rows:
        diff = ""
        if paired:
            if "ua_diff_vs_student_mean" in r:
                diff = f"{100 * r['ua_diff_vs_student_mean']:+.1f} ± {100 * r['ua_diff_vs_student_sd']:.1f}"
            diff += " | "
        lines.append(f"| {r['label']} | {pm(r['ua_mean'], r['ua_sd'])} | {pm(r['wa_mean'], r['wa_sd'])} | {diff}"
                     f"{', '.join(str(e) for e in r['epochs'])} |")
    if ctx.paired:
        lines += ["", "Paired differences (seed by seed on the same splits), UA points: mean ± sd, 95 % t interval.",
                  "", "| difference | seeds | mean ± sd | 95 % CI |", "|---|---|---|---|"]
        for p in ctx.paired:
            lines.append(f"| {p['what']} | {p['n']} | {100 * p['mean']:+.1f} ± {100 * p['sd']:.1f} | "
                         f"[{100 * p['ci95'][0]:+.1f}, {100 * p['ci95'][1]:+.1f}] |")
    if name == "noise":
        changes = sorted({r["f0_max_abs_change"] for r in ctx.rows})
        lines += ["", f"Largest change of any F0 input value between clean and noisy extraction: {max(changes):.3g} "
                  f"(the noise is added to the speech channel only)."]
    cfg = ctx.cfg
    proto = ("stratified 80/20 (a new split per seed)" if ctx.speaker_groups is None else
             f"held-out speakers, {len(ctx.speaker_groups)} folds: {ctx.speaker_groups}")
    feats = {k: v for k, v in ctx.fc.items() if k in ("source", "f0_source", "T", "f0_norm", "student_inputs")}
    lines += ["", f"Protocol: {proto}. Features: {feats}.",
              "", f"Settings: config `{ctx.args.config}`, overrides {ctx.args.overrides or 'none'}; "
              f"teacher {cfg.teacher.arch} (width {cfg.teacher.width}), student {to_dict(cfg)['student']}, "
              f"optim {to_dict(cfg)['optim']}, augment {to_dict(cfg)['augment']}, distill {to_dict(cfg)['distill']}, "
              f"data {data_settings(ctx)}."
              + (f" Paper's recipe: `{ctx.args.paper_config}` with {ctx.args.paper_set or 'no overrides'}."
                 if name == "recipes" else "")
              + f" Wall time {seconds / 60:.1f} min.", ""]
    return "\n".join(lines)


def data_settings(ctx: Ctx) -> dict[str, Any]:
    """The data section as it acted: from a saved FeatureSet, the corpus settings (f0_source, ...)
    were those of its extraction, which the file does not record."""
    d = to_dict(ctx.cfg)["data"]
    if ctx.corpus is None:
        for key in ("corpus_kind", "f0_source", "label_set", "cache_dir"):
            d[key] = f"as extracted into {ctx.fc.get('source')}"
    return d


def plot(ctx: Ctx, name: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if name == "budget":
        from .budget import plot as plot_budget

        return plot_budget(ctx, path)
    if name == "crosscorpus":
        from .budget import plot_crosscorpus

        return plot_crosscorpus(ctx, path, TITLES[name])
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
        for role in ("teacher", "student", "cmed", "floor_f0", "floor_spectral"):
            pts = [r for r in ctx.rows if r["role"] == role]
            snrs = [r["snr_db"] for r in pts]
            pos = list(range(len(pts)))
            ax.errorbar(pos, [100 * r["ua_mean"] for r in pts], [100 * r["ua_sd"] for r in pts], marker="o",
                        capsize=3, label={"teacher": "teacher (speech)", "student": "student (EGG F0)",
                                          "cmed": "student + CMED (EGG F0)",
                                          "floor_f0": "LR on F0 statistics",
                                          "floor_spectral": "LR on band statistics"}[role])
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
    p.add_argument("--size", choices=("paper", "edge"), help="tau/alpha/noise: switch the student to the paper's "
                   "BiLSTM of this size, replacing the config's student architecture (default: the config's student)")
    p.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3, 4], help="table3: BiLSTM depths at 256 units")
    p.add_argument("--taus", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    p.add_argument("--snrs", type=float, nargs="+", default=[20.0, 10.0, 5.0, 0.0, -5.0])
    p.add_argument("--noise", choices=NOISE_KINDS, default="white",
                   help=f"{SHARED['--noise']}, EGG untouched, at each of --snrs (noise experiment): white (default), "
                        f"babble or file")
    p.add_argument("--noise-file", metavar="WAV", help=SHARED["--noise-file"])
    p.add_argument("--matched", action="store_true", help="noise: also retrain teacher and CMED student per SNR")
    p.add_argument("--protocol", choices=("stratified", "speakers"), default="stratified",
                   help="stratified 80/20 per seed (default), or held-out speakers: --folds groups of speakers, "
                        "each the test part once (the seeds are then the fold numbers)")
    p.add_argument("--folds", type=int, default=5, help="--protocol speakers: number of speaker groups")
    p.add_argument("--parts", nargs="+", choices=("paper", "paper-student", "teacher", "student", "distill"),
                   default=["paper", "teacher", "student", "distill"],
                   help="recipes: which rows to train (the floors are always scored); 'paper' is the whole "
                        "paper recipe, 'paper-student' its edge student alone (no teacher: the cheap paper row), "
                        "the others are the config's recipe")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25, 0.5, 1.0],
                   help="budget: the fractions of the training part that keep their labels (default 0.05 0.1 "
                        "0.25 0.5 1.0); the rest is unlabelled paired recordings")
    p.add_argument("--teacher-features",
                   choices=("functionals", "spectral", "functionals+f0", "spectral+f0", "functionals*frames"),
                   help="budget, crosscorpus: what the teacher's logistic regression(s), fitted on the labelled part, "
                        "read: the speech's log-Mel band functionals, band mean and sd, either with the F0 statistics, "
                        "or 'functionals*frames', the product of a regression on the speech's functionals and one on "
                        "the EGG's frame-channel statistics (default: the config's distill.unlabelled_teacher)")
    p.add_argument("--teacher-corpus", metavar="FEATURES.npz",
                   help="crosscorpus: a labelled speech corpus (its FeatureSet) whose regression on the band "
                        "statistics (--teacher-features) teaches; no label of --features/--corpus is used")
    p.add_argument("--teacher-checkpoint", nargs="+", metavar="CKPT",
                   help="crosscorpus: teacher checkpoint(s) trained on another corpus (`eggemo train teacher`)")
    p.add_argument("--class-map", metavar="FILE", help="crosscorpus: the teacher's classes -> this corpus's "
                   "(configs/classmaps/, docs/distill.md)")
    p.add_argument("--xc-alpha", type=float, default=1.0,
                   help="crosscorpus: distill.alpha (1.0: the teacher's soft targets only; no target label exists)")
    p.add_argument("--selftrain-confidence", type=float, default=0.5,
                   help="budget: self-training keeps the student's own labels where its top class probability "
                        "reaches this (default 0.5)")
    p.add_argument("--paper-config", default=str(REPO_CONFIGS / "default.toml"),
                   help="recipes: the paper's recipe (default configs/default.toml)")
    p.add_argument("--paper-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="recipes: override a value of the paper's config, e.g. teacher.width=16")


def main(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        cfg = config_from_args(args)
        fs, fc = load_features(cfg, corpus=args.corpus, features=args.features, progress=cfg.run.progress)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        cfg, groups = protocol_config(cfg, fs, args.protocol, args.folds)
        if getattr(args, "teacher_features", None) is None:
            args.teacher_features = cfg.distill.unlabelled_teacher
        seeds = list(range(args.folds)) if groups is not None else list(args.seeds)
        ctx = Ctx(cfg=cfg, fs=fs, fc=fc, out=out, seeds=seeds, args=args, corpus=args.corpus,
                  speaker_groups=groups)
        if args.name == "budget" and not all(0.0 < f <= 1.0 for f in args.fractions):
            raise ValueError(f"--fractions {' '.join(f'{f:g}' for f in args.fractions)}: each must be in (0, 1] "
                             f"(the share of the training part that keeps its labels)")
        print(f"experiment {args.name}: {fs.label_count()}, seeds {ctx.seeds}", flush=True)
        EXPERIMENTS[args.name](ctx)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eggemo experiment: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    md = markdown(ctx, args.name, seconds)
    (out / f"{args.name}.md").write_text(md)
    (out / f"{args.name}.json").write_text(json.dumps({"name": args.name, "rows": ctx.rows, "paired": ctx.paired,
                                                       "config": to_dict(cfg), "seconds": seconds}, indent=2))
    plot(ctx, args.name, out / f"{args.name}.png")
    print(md)
    return 0
