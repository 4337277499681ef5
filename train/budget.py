"""`eggemo experiment budget`: what a speech teacher gives an EGG student when labels are scarce.

On each seed's split (the usual stratified 80/20, validation 10 % of the 80 %), only a stratified
fraction f of the training part keeps its labels, in the training and the validation share
alike; the rest of the training part is unlabelled paired recordings (speech + EGG). The test part
is the same at every f, always labelled. At each f:

    student      the recipe's student trained on the labelled part alone
    selftrain    the student labels the unlabelled part itself (where its top class probability
                 reaches --selftrain-confidence) and a fresh student trains on both: the control
                 that says whether the speech adds anything beyond pseudo-labels
    distill      the student trained on every training utterance: CE on the labelled ones, the
                 speech teacher's soft targets (logit KD, the config's [distill] tau, alpha,
                 kd_on, confidence) where it teaches
    teacher      the teacher itself: logistic regressions (--teacher-features; the recipe's: one on
                 the speech's band functionals times one on the EGG's frame-channel statistics),
                 fitted on the labelled training utterances only (never on the validation part,
                 which chooses the student's epoch); its targets on labelled training utterances
                 are cross-fitted, so it never grades one it saw
    floor_*      the three floors (F0 statistics, frame-channel statistics, band statistics),
                 fitted on the labelled part only

budget.json rows carry role, label_fraction, the per-seed UA and ua_mean; `paired` holds the
seed-by-seed differences (distill - student, distill - selftrain, ...) with 95 % t intervals.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .config import replace, to_dict
from .evaluate import unweighted_accuracy
from .featureset import UNLABELLED, FeatureSet

ROLES = ("student", "selftrain", "distill", "recipe", "teacher", "teacher_speech", "floor_f0", "floor_frames",
         "floor_spectral")
ROLE_LABELS = {"student": "student, labelled part alone", "selftrain": "student + self-training (no teacher)",
               "distill": "student + teacher (distilled)", "teacher": "teacher",
               "teacher_speech": "the teacher's speech regression alone",
               "recipe": "recipe: distilled or alone, whichever wins on validation",
               "floor_f0": "floor: LR on F0 statistics", "floor_frames": "floor: LR on frame-channel statistics",
               "floor_spectral": "floor: LR on band statistics"}


def keep_labels(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted positions (into `labels`) of a stratified `fraction` of them, at least one per class
    that has any: the ones that keep their label."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = max(1, int(round(len(idx) * fraction)))
        keep.append(rng.permutation(idx)[:k])
    return np.sort(np.concatenate(keep))


@dataclasses.dataclass
class Draw:
    """One seed at one fraction: indices into the FeatureSet."""
    train_labelled: np.ndarray
    train_unlabelled: np.ndarray
    val: np.ndarray            # the labelled share of the validation part
    test: np.ndarray

    @property
    def train_all(self) -> np.ndarray:
        return np.sort(np.concatenate([self.train_labelled, self.train_unlabelled]))

    @property
    def fit(self) -> np.ndarray:
        """What a regression fits on: every labelled utterance outside the test part."""
        return np.sort(np.concatenate([self.train_labelled, self.val]))


def draw(fs: FeatureSet, cfg, fraction: float, seed: int) -> Draw:
    from .cli import make_splits

    sp = make_splits(fs, cfg)
    if fraction >= 1.0:
        return Draw(sp["train"], np.array([], np.int64), sp["val"], sp["test"])
    tr = keep_labels(fs.labels[sp["train"]], fraction, seed + 5000)
    va = keep_labels(fs.labels[sp["val"]], fraction, seed + 6000)
    lab = sp["train"][tr]
    return Draw(lab, np.setdiff1d(sp["train"], lab), sp["val"][va], sp["test"])


def masked(fs: FeatureSet, d: Draw) -> FeatureSet:
    """fs with the labels of the unlabelled training utterances taken away."""
    labels = fs.labels.copy()
    labels[d.train_unlabelled] = UNLABELLED
    return dataclasses.replace(fs, labels=labels)


def _cached(ctx, role: str, f: float, seed: int, settings: dict[str, Any], fn) -> dict[str, Any]:
    """fn()'s result with settings and wall time, kept in OUT/runs/budget/ROLE/fF/seedS.json and
    read back from there while the settings match, so an interrupted sweep resumes."""
    path = ctx.out / "runs" / "budget" / role / f"f{f:g}" / f"seed{seed}.json"
    settings = json.loads(json.dumps(settings))          # as it reads back
    if path.exists():
        prev = json.loads(path.read_text())
        if prev.get("settings") == settings:
            print(f"  reuse {role} f={f:g} seed {seed}: UA {prev['ua']:.3f}", flush=True)
            return prev
    t0 = time.perf_counter()
    res = {**fn(), "settings": settings, "seconds": time.perf_counter() - t0}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1))
    print(f"  {role} f={f:g} seed {seed}: UA {res['ua']:.3f} ({res['seconds']:.0f} s)", flush=True)
    return res


def _net(cfg, n_classes: int, train_set: FeatureSet, val_set: FeatureSet, test_set: FeatureSet,
         teacher_outputs=None):
    """(its test summary, the model): the config's student trained on train_set, early-stopped on
    val_set, scored on test_set."""
    from .cli import student_config
    from .evaluate import evaluate
    from .loop import train

    mc = student_config(cfg, n_classes, in_channels=int(train_set.f0.shape[2]))
    res = train(cfg.student.arch, mc, train_set, val_set, cfg, teacher_outputs=teacher_outputs)
    test = evaluate(res.model, cfg.student.arch, test_set)
    return ({"ua": float(test.ua), "wa": float(test.wa), "val_ua": float(res.best_val_ua),
             "epochs_run": len(res.history)}, res.model)


class Budget:
    def __init__(self, ctx) -> None:
        from .baselines import crossfit_statistics, frame_statistics, statistics, teacher_parts

        self.ctx = ctx
        fs = ctx.fs
        stats = statistics(fs)
        self.X = {"f0": stats["f0"], "spectral": stats["spectral"]}
        if len(fs.f0_channels) > 2:
            self.X["frames"] = frame_statistics(fs, stats["f0"])
        self.X_parts = {part: (self.X["frames"] if part == "frames" and "frames" in self.X else
                               crossfit_statistics(fs, part)) for part in teacher_parts(ctx.args.teacher_features)}
        self.k = len(fs.label_names)

    # --- one seed ------------------------------------------------------------------------------

    def _teacher_targets(self, d: Draw, y: np.ndarray, seed: int) -> np.ndarray:
        """The teacher's log-probabilities on every training utterance: cross-fitted on the labelled
        ones, from the regressions on all labelled training utterances elsewhere. The validation
        part's labels never reach it: a teacher fitted on them would teach the student the very
        utterances that choose its epoch."""
        from .baselines import crossfit_log_probs, product_log_probs

        return product_log_probs([crossfit_log_probs(X, y, d.train_all, self.k, self.ctx.cfg.distill.crossfit_folds,
                                                     seed=seed) for X in self.X_parts.values()]).astype(np.float32)

    def _teacher_score(self, d: Draw, only: list[str] | None = None) -> dict[str, float]:
        """The teacher on the test part: each regression fitted on the labelled training utterances
        (as the teacher that teaches is), their probabilities multiplied."""
        from .baselines import fit_log_probs, product_log_probs

        y = self.ctx.fs.labels
        pred = product_log_probs([fit_log_probs(X, y, d.train_labelled, d.test, self.k)
                                  for name, X in self.X_parts.items() if only is None or name in only]).argmax(1)
        acc = float(np.mean(pred == y[d.test]))
        return {"acc": acc, "ua": unweighted_accuracy(y[d.test], pred, self.k), "wa": acc}

    def seed(self, f: float, seed: int) -> dict[str, dict[str, Any]]:
        from .baselines import fit_score

        ctx, fs = self.ctx, self.ctx.fs
        cfg = ctx.seed_cfg(seed)
        d = draw(fs, cfg, f, seed)
        fsm = masked(fs, d)
        base = {"seed": seed, "fraction": f, "n_labelled": int(len(d.train_labelled) + len(d.val)),
                "n_unlabelled": int(len(d.train_unlabelled)), "test": fs.utt_ids[d.test][:3].tolist()}
        out: dict[str, dict[str, Any]] = {}
        for key, X in self.X.items():
            out[f"floor_{key}"] = _cached(ctx, f"floor_{key}", f, seed, base, lambda X=X: dict(zip(
                ("acc", "ua", "wa"), fit_score(X, fs.labels, d.fit, d.test, self.k))))
        tbase = {**base, "teacher_fit": "labelled training utterances"}
        out["teacher"] = _cached(ctx, "teacher", f, seed, {**tbase, "features": ctx.args.teacher_features},
                                      lambda: self._teacher_score(d))
        if len(self.X_parts) > 1:
            speech = next(iter(self.X_parts))
            out["teacher_speech"] = _cached(ctx, "teacher_speech", f, seed, {**tbase, "features": speech},
                                                 lambda: self._teacher_score(d, [speech]))
        scfg = {**base, "config": to_dict(replace(cfg, run={"progress": False}))}
        scfg["config"].pop("distill")                 # a student alone reads none of it
        test_set, val_set = fs.subset(d.test), fs.subset(d.val)
        alone: dict[str, Any] = {}

        def student() -> dict[str, Any]:
            r, alone["model"] = _net(cfg, self.k, fs.subset(d.train_labelled), val_set, test_set)
            return r
        out["student"] = _cached(ctx, "student", f, seed, scfg, student)

        def selftrain() -> dict[str, Any]:
            from .evaluate import predict

            if len(d.train_unlabelled) == 0:       # nothing to pseudo-label: the student alone, as trained
                return {k: v for k, v in out["student"].items() if k not in ("settings", "seconds")} | {"pseudo": 0}
            model = alone.get("model") or _net(cfg, self.k, fs.subset(d.train_labelled), val_set, test_set)[1]
            logits = predict(model, fs.subset(d.train_unlabelled).f0)[0]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            sure = p.max(1) >= ctx.args.selftrain_confidence
            labels = fs.labels.copy()
            labels[d.train_unlabelled] = p.argmax(1)
            idx = np.sort(np.concatenate([d.train_labelled, d.train_unlabelled[sure]]))
            pseudo = dataclasses.replace(fs, labels=labels)
            r = _net(cfg, self.k, pseudo.subset(idx), val_set, test_set)[0]
            return {**r, "pseudo": int(sure.sum()),
                    "pseudo_correct": float(np.mean(p.argmax(1)[sure] == fs.labels[d.train_unlabelled][sure]))
                    if sure.any() else None}
        out["selftrain"] = _cached(ctx, "selftrain", f, seed,
                                        {**scfg, "confidence": ctx.args.selftrain_confidence}, selftrain)

        dcfg = replace(cfg, distill={"kind": "logit"})
        dset = {**tbase, "config": to_dict(replace(dcfg, run={"progress": False})),
                "teacher": ctx.args.teacher_features}

        def distill() -> dict[str, Any]:
            targets = self._teacher_targets(d, fsm.labels, seed)
            return _net(dcfg, self.k, fsm.subset(d.train_all), val_set, test_set, teacher_outputs=(targets, None))[0]
        out["distill"] = _cached(ctx, "distill", f, seed, dset, distill)
        return out

    # --- the sweep -----------------------------------------------------------------------------

    def run(self) -> None:
        from .experiments import add_row, paired

        ctx = self.ctx
        for f in ctx.args.fractions:
            per_role: dict[str, list[dict[str, Any]]] = {r: [] for r in ROLES}
            for seed in ctx.seeds:
                got = self.seed(f, seed)
                for role, res in got.items():
                    per_role[role].append({**res, "epochs_run": res.get("epochs_run", 0)})
            # `eggemo train student`'s rule (distill.auto): with unlabelled utterances, the better of
            # the two on validation; without, the student alone
            per_role["recipe"] = [d if d["settings"]["n_unlabelled"] and d["val_ua"] > s["val_ua"] else s
                                  for d, s in zip(per_role["distill"], per_role["student"])]
            for role in ROLES:
                if per_role[role]:
                    n = per_role[role][0].get("settings", {}).get("n_labelled")
                    row = add_row(ctx, f"{ROLE_LABELS[role]}, f = {f:g} ({n} labelled)", per_role[role], role=role,
                                  label_fraction=f, val_ua=[r.get("val_ua") for r in per_role[role]],
                                  n_labelled=[r.get("settings", {}).get("n_labelled") for r in per_role[role]])
                    row["per_seed"] = dict(zip(map(str, ctx.seeds), row["ua"]))
            for a, b in (("distill", "student"), ("distill", "selftrain"), ("selftrain", "student"),
                         ("student", "floor_f0"), ("distill", "floor_frames"), ("distill", "teacher"),
                         ("teacher", "teacher_speech"), ("recipe", "student")):
                if per_role[a] and per_role[b]:
                    p = paired(ctx, f"{a} - {b}, f = {f:g}", per_role[a], per_role[b])
                    p.update({"a": a, "b": b, "label_fraction": f})
                    if all(r.get("val_ua") is not None for r in per_role[a] + per_role[b]):
                        va = np.array([r["val_ua"] for r in per_role[a]]) - np.array([r["val_ua"] for r in per_role[b]])
                        p["val_diff_mean"] = float(va.mean())


def budget(ctx) -> None:
    Budget(ctx).run()


def plot(ctx, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"student": "o-", "selftrain": "s--", "distill": "D-", "recipe": "*-", "teacher": "^:", "teacher_speech": "<:",
              "floor_f0": "x:",
              "floor_frames": "+:", "floor_spectral": "v:"}
    for role in ROLES:
        pts = sorted((r["label_fraction"], r) for r in ctx.rows if r.get("role") == role)
        if not pts:
            continue
        x = [p[0] for p in pts]
        ax.errorbar(x, [100 * p[1]["ua_mean"] for p in pts], [100 * p[1]["ua_sd"] for p in pts], fmt=styles[role],
                    capsize=3, label=ROLE_LABELS[role])
    ax.set_xscale("log")
    fr = sorted({r["label_fraction"] for r in ctx.rows})
    ax.set_xticks(fr, [f"{f:g}" for f in fr])
    ax.axhline(100 / len(ctx.fs.label_names), color="gray", lw=0.8, ls="--", label="chance")
    ax.set_xlabel("fraction of the training part that keeps its labels")
    ax.set_ylabel("test UA (%)")
    ax.set_title("Label budget: what the speech teacher adds")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_crosscorpus(ctx, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    y = np.arange(len(ctx.rows))[::-1]
    ax.barh(y, [100 * r["ua_mean"] for r in ctx.rows], xerr=[100 * r["ua_sd"] for r in ctx.rows], capsize=3)
    ax.set_yticks(y, [r["label"][:60] for r in ctx.rows], fontsize=7)
    chance = next(r["ua_mean"] for r in ctx.rows if r["role"] == "chance")
    ax.axvline(200 * chance, color="gray", ls="--", label="2 x chance")
    ax.set_xlabel("test UA (%) on the shared classes")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- cross-corpus: a teacher from another corpus, no target label at all ------------------------

def shared_classes(fs: FeatureSet, covered: tuple[str, ...]) -> tuple[FeatureSet, np.ndarray]:
    """(the utterances of `fs` whose class the teacher's map reaches, with the label set narrowed
    to those classes in fs's order: what a zero-label student can be scored on; their indices
    into fs)."""
    names = tuple(n for n in fs.label_names if n in covered)
    keep = np.flatnonzero(np.isin(np.asarray(fs.label_names)[np.maximum(fs.labels, 0)], names) & fs.labelled)
    sub = fs.subset(keep)
    lookup = np.array([names.index(n) if n in names else -1 for n in fs.label_names])
    return dataclasses.replace(sub, labels=lookup[sub.labels], label_names=names), keep


def _teachers(ctx, fs: FeatureSet) -> dict[str, tuple[np.ndarray, str]]:
    """{name: (log-probabilities over fs's classes for every utterance, description)} of the
    teachers named on the command line, each trained on another labelled speech corpus."""
    from .baselines import crossfit_statistics, fit_log_probs
    from .classmap import resolve

    args = ctx.args
    out: dict[str, tuple[np.ndarray, str]] = {}
    if args.teacher_corpus:
        src = FeatureSet.load(args.teacher_corpus)
        src = src.subset(np.flatnonzero(src.labelled))
        cmap = resolve(args.class_map, src.label_names, fs.label_names)
        feat = args.teacher_features.split("*")[0]       # the speech's regression: the other corpus has no EGG
        # one matrix, the other corpus's utterances first: fitted on those, scored on this corpus's
        X = np.concatenate([crossfit_statistics(src, feat), crossfit_statistics(fs, feat)])
        y = np.concatenate([src.labels, np.full(len(fs), UNLABELLED)])
        z = fit_log_probs(X, y, np.arange(len(src)), len(src) + np.arange(len(fs)), len(src.label_names), floor=1e-12)
        out["lr"] = (cmap.map_log_probs(z), f"logistic regression on the band {feat} of "
                                            f"{args.teacher_corpus} ({len(src)} labelled utterances); {cmap.describe()}")
    for path in args.teacher_checkpoint or []:
        from .checkpoint import load_checkpoint
        from .evaluate import model_inputs, predict

        model, ck = load_checkpoint(path)
        cmap = resolve(args.class_map, ck["label_names"], fs.label_names)
        z = predict(model, model_inputs(ck["arch"], fs))[0]
        out[f"ckpt{len(out)}"] = (cmap.map_log_probs(z), f"{ck['arch']} teacher {path}; {cmap.describe()}")
    if not out:
        raise ValueError("crosscorpus needs a teacher from another corpus: --teacher-corpus FEATURES.npz (a labelled "
                         "speech corpus; a regression on its band statistics) and/or --teacher-checkpoint CKPT "
                         "(`eggemo train teacher` on it), with --class-map FILE where the label sets differ")
    return out


def crosscorpus(ctx) -> None:
    """Zero target labels: the student trains on the target corpus's paired recordings with the
    other corpus's speech teacher as its only source of emotion; scored on the target's labelled
    test part over the classes the two corpora share. Validation (early stopping) uses no target
    label either: the teacher's own labels on a held-out share of the unlabelled part. Beside it,
    the same student trained with the target's labels (what labelling would buy) and chance."""
    from .cli import make_splits
    from .experiments import add_row, paired

    full = ctx.fs
    teachers0 = _teachers(ctx, full)
    covered = [n for n in full.label_names if any(np.isfinite(lp[0, full.label_names.index(n)])
                                                  for lp, _ in teachers0.values())]
    fs, keep = shared_classes(full, tuple(covered))
    cols = [full.label_names.index(n) for n in fs.label_names]
    teachers = {k: (lp[keep][:, cols], desc) for k, (lp, desc) in teachers0.items()}
    k = len(fs.label_names)
    print(f"crosscorpus: {len(fs)} utterances of the {k} shared classes {list(fs.label_names)}; chance {100 / k:.1f} %",
          flush=True)
    results: dict[str, list[dict[str, Any]]] = {"labelled": []}
    for name in teachers:
        results[f"teacher_{name}"] = []
        results[f"distill_{name}"] = []
    for seed in ctx.seeds:
        cfg = ctx.seed_cfg(seed)
        sp = make_splits(fs, cfg)
        base = {"seed": seed, "classes": list(fs.label_names), "n": len(fs), "test": fs.utt_ids[sp["test"]][:3].tolist()}
        scfg = {**base, "config": to_dict(replace(cfg, run={"progress": False}))}
        results["labelled"].append(_cached(ctx, "xc_labelled", 0.0, seed, scfg, lambda: _net(
            cfg, k, fs.subset(sp["train"]), fs.subset(sp["val"]), fs.subset(sp["test"]))[0]))
        for name, (lp, desc) in teachers.items():
            y, pred = fs.labels[sp["test"]], lp[sp["test"]].argmax(1)
            ua = unweighted_accuracy(y, pred, k)
            results[f"teacher_{name}"].append({"ua": ua, "wa": float(np.mean(pred == y)), "epochs_run": 0})
            guess = dataclasses.replace(fs, labels=lp.argmax(1).astype(np.int64))     # the teacher's labels
            unl = dataclasses.replace(fs, labels=np.full(len(fs), UNLABELLED))
            dcfg = replace(cfg, distill={"kind": "logit", "alpha": ctx.args.xc_alpha})
            dset = {**scfg, "config": to_dict(replace(dcfg, run={"progress": False})), "teacher": desc}

            def run(lp=lp, guess=guess, unl=unl, dcfg=dcfg) -> dict[str, Any]:
                return _net(dcfg, k, unl.subset(sp["train"]), guess.subset(sp["val"]), fs.subset(sp["test"]),
                            teacher_outputs=(lp[sp["train"]], None))[0]
            results[f"distill_{name}"].append(_cached(ctx, f"xc_distill_{name}", 0.0, seed, dset, run))
    add_row(ctx, f"student with the target's labels ({', '.join(fs.label_names)})", results["labelled"],
            role="student_labelled", label_fraction=1.0)
    for name, (_, desc) in teachers.items():
        add_row(ctx, f"teacher from the other corpus, zero target labels: {desc}", results[f"teacher_{name}"],
                role="teacher", teacher=name, label_fraction=0.0)
        add_row(ctx, f"student distilled from it, zero target labels", results[f"distill_{name}"],
                role="distill", teacher=name, label_fraction=0.0)
        paired(ctx, f"distilled ({name}) - chance x 2", results[f"distill_{name}"],
               [{"ua": 2.0 / k} for _ in ctx.seeds])
        paired(ctx, f"distilled ({name}) - its teacher", results[f"distill_{name}"], results[f"teacher_{name}"])
    ctx.rows.append({"label": "chance", "role": "chance", "ua_mean": 1.0 / k, "ua_sd": 0.0, "wa_mean": 1.0 / k,
                     "wa_sd": 0.0, "ua": [1.0 / k] * len(ctx.seeds), "wa": [1.0 / k] * len(ctx.seeds), "epochs": [0]})


def matrix_markdown(ctx) -> list[str]:
    """The budget as one table: a row per role, a column per label fraction (test UA, mean ± sd),
    then the paired differences the targets read (distill - student, distill - selftrain)."""
    fr = sorted({r["label_fraction"] for r in ctx.rows if "label_fraction" in r})
    roles = [r for r in ROLES if any(x.get("role") == r for x in ctx.rows)]
    n = {f: next((x["n_labelled"][0] for x in ctx.rows if x.get("label_fraction") == f and x.get("n_labelled")), "")
         for f in fr}
    lines = ["| | " + " | ".join(f"f = {f:g} ({n[f]} labelled)" for f in fr) + " |", "|---" * (len(fr) + 1) + "|"]
    for role in roles:
        cells = []
        for f in fr:
            row = next((x for x in ctx.rows if x.get("role") == role and x.get("label_fraction") == f), None)
            cells.append(f"{100 * row['ua_mean']:.1f} ± {100 * row['ua_sd']:.1f}" if row else "")
        lines.append(f"| {ROLE_LABELS[role]} | " + " | ".join(cells) + " |")
    def pair(a: str, b: str, f: float) -> dict[str, Any] | None:
        return next((q for q in ctx.paired if q.get("a") == a and q.get("b") == b and q.get("label_fraction") == f), None)

    for a, b in (("distill", "student"), ("distill", "selftrain"), ("selftrain", "student"), ("recipe", "student")):
        cells = [f"{100 * p['mean']:+.1f} [{100 * p['ci95'][0]:+.1f}, {100 * p['ci95'][1]:+.1f}]" if p else ""
                 for p in (pair(a, b, f) for f in fr)]
        lines.append(f"| Δ {a} − {b} (95 % CI) | " + " | ".join(cells) + " |")
    cells = [f"{100 * p['val_diff_mean']:+.1f}" if p and "val_diff_mean" in p else ""
             for p in (pair("distill", "student", f) for f in fr)]
    lines.append("| Δ distill − student on validation | " + " | ".join(cells) + " |")
    return ["Test UA %, mean ± sd over the seeds; Δ: paired difference seed by seed, mean and 95 % t interval.", "",
            *lines, ""]
