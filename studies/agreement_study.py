"""int8 against float argmax agreement over many trained checkpoints, with the disagreements
located by the float model's top-2 margin (docs/export.md, "int8/float agreement").

    python -m studies.agreement_study --corpus runs/corpus_default --out agreement.json \\
        runs/results/paperopt/runs/*2x48s3*/seed[012]/best.pt
    python -m studies.agreement_study --features feats.npz --budget --out agreement.json \\
        runs/recipes/synth/runs/eggemo_student_cnn4x64/seed1*/best.pt

Each checkpoint (BiLSTM or CNN student) is quantised as `eggemo export` does it (the same Keras
rebuild, calibrator and 256 training contours), run in ai-edge-litert's reference kernels (the
host's, TFLite Micro's and the board's arithmetic) and compared with its torch model on its
validation part, its test part and both together (held out): argmax agreement, and the UA of
float and int8 on each part, paired over checkpoints in the summary. `--budget` (CNN students)
also simulates every int8 rounding alone (studies/int8_budget.py) and counts the labels each one
flips. Nothing is written but the JSON.

Two measurements of what would close the gap to the float model (docs/results.md, "int8"):
`--activations int16` converts in TFLite's 16x8 mode instead (int16 activations, the same int8
weights; the board's kernels are int8 only), and `--snap` (CNN students) compares the quantised
model with the checkpoint's weights put on their int8 grid (train/snap.py snap_weights)
instead of the checkpoint itself, and reports how many labels that snapping changes. "int8" in
the JSON names the quantised model either way.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats


PARTS = ("validation", "test", "held_out")


def _ua(pred: np.ndarray, y: np.ndarray) -> float:
    """Unweighted accuracy: the mean of the per-class recalls over the classes present."""
    return float(np.mean([np.mean(pred[y == k] == k) for k in np.unique(y)]))


def study(checkpoints: list[Path], *, corpus: Path | None = None, features: Path | None = None,
          calib_max: int = 256, budget: bool = False, activations: str = "int8",
          snap: bool = False) -> list[dict[str, Any]]:
    from eggemo.train.cli import load_features, make_splits

    from eggemo.export.data import checkpoint_config, subsample
    from eggemo.export.onnx_export import torch_logits
    from eggemo.export.pipeline import load_student
    from eggemo.export.rebuild import build_keras, student_shape
    from eggemo.runtime import StudentRuntime
    from eggemo.export.tflite import convert_int8, convert_int16x8
    from eggemo.export.verify import agreement

    if activations not in ("int8", "int16"):
        raise ValueError(f"activations must be 'int8' or 'int16', got {activations!r}")
    rows = []
    for path in checkpoints:
        model, ck = load_student(path)
        if (snap or activations == "int16" or budget) and ck["arch"] != "cnn_student":
            raise ValueError(f"{path}: --snap, --activations int16 and --budget take CNN students; "
                             f"this is a {ck['arch']}")
        original = model
        if snap:
            from eggemo.train.snap import snap_weights
            model = snap_weights(model)
        cfg = checkpoint_config(ck)
        # each checkpoint's own feature config; repeats come from the feature cache
        fs = load_features(cfg, corpus=corpus, features=features, progress=False)[0]
        split = make_splits(fs, cfg)
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        shape = student_shape(ck["arch"], state, ck["model_config"], fs.f0.shape[1])
        fit = fs.f0[split["train"]]
        calib = fit[subsample(len(fit), calib_max)]
        convert = convert_int16x8 if activations == "int16" else convert_int8
        rt = StudentRuntime(convert(build_keras(state, shape, batch_size=1), calib))
        row: dict[str, Any] = {"checkpoint": str(path), "activations": activations, "snap": snap}
        held_out = np.concatenate([split["val"], split["test"]])
        for part, idx in zip(PARTS, (split["val"], split["test"], held_out)):
            x, y = fs.f0[idx], fs.labels[idx]
            q, f = rt.logits_batch(x), torch_logits(model, x)
            row[part] = {**agreement(q, f, step=rt.output_scale),
                         "ua_float": _ua(f.argmax(1), y), "ua_int8": _ua(q.argmax(1), y)}
            if snap:
                f0 = torch_logits(original, x).argmax(1)
                row[part]["snap"] = {"labels_changed": int(np.sum(f0 != f.argmax(1))), "ua_checkpoint": _ua(f0, y)}
        if budget:
            from studies.int8_budget import flips
            row["budget"] = flips(model, calib, fs.f0[held_out])
        rows.append(row)
        v = row["validation"]
        print(f"{path}: validation {v['argmax_agreement']:.4f} ({v['disagreements']}/{v['utterances']} differ, "
              f"margins in steps {v['disagreement_margins_steps']}); held-out "
              f"{row['held_out']['argmax_agreement']:.4f}", flush=True)
    return rows


def summary(rows: list[dict[str, Any]], part: str) -> dict[str, Any]:
    """Pooled agreement, and the agreement on utterances whose float margin is at least one step."""
    n = sum(r[part]["utterances"] for r in rows)
    differ = sum(r[part]["disagreements"] for r in rows)
    ties = sum(r[part]["below_one_step"] for r in rows)
    clear_differ = differ - sum(r[part]["disagreements_below_one_step"] for r in rows)
    per = np.array([r[part]["argmax_agreement"] for r in rows])
    d = np.array([r[part]["ua_int8"] - r[part]["ua_float"] for r in rows]) * 100.0
    half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return {"checkpoints": len(rows), "utterances": n, "disagreements": differ,
            "ua_float_mean": float(np.mean([r[part]["ua_float"] for r in rows])) * 100.0,
            "ua_int8_mean": float(np.mean([r[part]["ua_int8"] for r in rows])) * 100.0,
            "ua_int8_minus_float_points": {"mean": float(d.mean()), "ci95": [float(d.mean() - half), float(d.mean() + half)],
                                           "worst": float(d.min())},
            "pooled_agreement": 1 - differ / n, "checkpoints_meeting_0.99": int(np.sum(per >= 0.99)),
            "min_agreement": float(per.min()), "median_agreement": float(np.median(per)),
            "utterances_below_one_step": ties, "disagreements_below_one_step": differ - clear_differ,
            "agreement_beyond_one_step": 1 - clear_differ / (n - ties) if n > ties else float("nan")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.agreement_study", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", type=Path, help="student/distill checkpoints (best.pt)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", type=Path, help="the corpus the checkpoints were trained on")
    src.add_argument("--features", type=Path, help="or its FeatureSet .npz")
    p.add_argument("--out", type=Path, required=True, help="JSON with every checkpoint's numbers and the summary")
    p.add_argument("--calib-max", type=int, default=256)
    p.add_argument("--budget", action="store_true",
                   help="CNN students: also simulate each int8 rounding alone and count the labels it flips")
    p.add_argument("--activations", choices=("int8", "int16"), default="int8",
                   help="int16: TFLite's 16x8 mode (int16 activations, int8 weights; CNN students), which the "
                        "board does not run, to measure what it would buy")
    p.add_argument("--snap", action="store_true",
                   help="CNN students: compare with the checkpoint's weights put on their int8 grid, "
                        "and count the labels that changes")
    args = p.parse_args(argv)
    missing = [str(c) for c in args.checkpoints if not c.is_file()]
    if missing:
        print(f"agreement_study: no such checkpoint: {', '.join(missing)}", file=sys.stderr)
        return 2
    from eggemo.export.data import ExportDataError
    from eggemo.export.pipeline import ExportError
    try:
        rows = study(args.checkpoints, corpus=args.corpus, features=args.features, calib_max=args.calib_max,
                     budget=args.budget, activations=args.activations, snap=args.snap)
    except (ExportError, ExportDataError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"agreement_study: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"rows": rows, "summary": {part: summary(rows, part) for part in PARTS}}
    if args.snap:
        for part in PARTS:
            n = result["summary"][part]["utterances"]
            changed = sum(r[part]["snap"]["labels_changed"] for r in rows)
            ua = float(np.mean([r[part]["snap"]["ua_checkpoint"] for r in rows])) * 100.0
            result["summary"][part]["snap"] = {"labels_changed": changed, "share_changed": changed / n,
                                               "ua_checkpoint_mean": ua}
    if args.budget:
        from studies.int8_budget import ROUNDINGS
        n = sum(r["budget"]["utterances"] for r in rows)
        result["budget"] = {"utterances": n, "flipped_share": {k: sum(r["budget"][k] for r in rows) / n
                                                               for k in ROUNDINGS + ("all",)}}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for part, s in result["summary"].items():
        print(f"{part}: pooled agreement {s['pooled_agreement']:.4f} ({s['disagreements']} of {s['utterances']} "
              f"differ; {s['disagreements_below_one_step']} of them at a float margin below one int8 output step); "
              f"{s['checkpoints_meeting_0.99']}/{s['checkpoints']} checkpoints >= 0.99; on the "
              f"{s['utterances'] - s['utterances_below_one_step']} utterances with a margin of at least one step "
              f"{s['agreement_beyond_one_step']:.4f}; UA float {s['ua_float_mean']:.1f} -> int8 {s['ua_int8_mean']:.1f}")
    if args.snap:
        for part in PARTS:
            sn = result["summary"][part]["snap"]
            print(f"{part}: snapping the weights to their int8 grid changed {sn['labels_changed']} labels "
                  f"({sn['share_changed']:.2%}); UA {sn['ua_checkpoint_mean']:.1f} -> "
                  f"{result['summary'][part]['ua_float_mean']:.1f}")
    if args.budget:
        shares = ", ".join(f"{k} {v:.1%}" for k, v in result["budget"]["flipped_share"].items())
        print(f"labels flipped by each int8 rounding alone (simulated, held out): {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
