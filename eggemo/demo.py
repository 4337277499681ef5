"""`eggemo demo`: the whole system, end to end, on one machine.

1. synthesise the default speech+EGG emotional corpus;
2. train the teacher (speech log-Mel) and the edge student (EGG frames), eggemo's recipe
   (configs/eggemo.toml; the recipe deploys the student trained alone: distillation did not pay
   on validation, docs/results.md);
3. export the student to int8 TFLite, checked in TFLite Micro, and deploy it as the recipe's
   [export] says: 16x8 (int16 activations, weights on their int8 grid), written as C;
4. build the firmware with the exported student compiled in (a CNN student; a BiLSTM one runs
   on the host only, and the firmware is built without it) and boot it in QEMU (netduinoplus2 =
   STM32F405);
5. stream held-out utterances' EGG of one speaker (a wearer is one speaker) through the emulated
   board; the board segments its F0 frames and classifies each utterance itself (EMOTION frames),
   and the live monitor does the same on the host from the board's F0 frames, with the same
   deployed model and normalisation: the speaker's fixed F0 statistics (what training used), which the
   monitor gives the board with SET_NORM before it starts the stream;
6. summarise: the board's and the host's live accuracy against offline float and deployed-model
   accuracy on the same utterances, how often board and host agree (always, bit for bit), the
   quantisation drift,
   the firmware's instructions per hop and per inference, link statistics; plots in one folder.

`--skip-train` reuses the last trained model in --out. `--utterances/--speakers/--stream` make
it smaller (CI runs it so).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GAP_S = 1.2          # silence between streamed utterances: longer than the monitor's hangover
FS = 16000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for everything the demo writes")
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "eggemo.toml",
                   help="training config (TOML; default eggemo's recipe, configs/default.toml is the paper's)")
    p.add_argument("--utterances", type=int, default=700, help="corpus size (default: the default corpus)")
    p.add_argument("--speakers", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="corpus seed")
    p.add_argument("--stream", type=int, default=12, help="held-out utterances streamed through the board")
    p.add_argument("--skip-train", action="store_true", help="reuse the teacher and student already in --out")
    p.add_argument("--plain", action="store_true", help="plain-text monitor output (no live terminal UI)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for training (1: steady on a shared 2-core machine, see docs/results.md)")


def step(n: int, text: str) -> None:
    print(f"\n== [{n}/6] {text}", flush=True)


# --- 1. corpus ---------------------------------------------------------------------------------

def make_corpus(out: Path, utterances: int, speakers: int, seed: int) -> Path:
    from .train.synth_corpus import CorpusConfig, write_corpus

    corpus = out / "corpus"
    stamp = corpus / "demo_corpus.json"
    want = {"utterances": utterances, "speakers": speakers, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == want and (corpus / "manifest.csv").is_file():
        print(f"   reusing {corpus} ({utterances} utterances, {speakers} speakers, seed {seed})")
        return corpus
    if corpus.exists():
        shutil.rmtree(corpus)
    write_corpus(corpus, CorpusConfig(n_utterances=utterances, n_speakers=speakers, seed=seed))
    stamp.write_text(json.dumps(want))
    return corpus


# --- 2. training -------------------------------------------------------------------------------

def train_models(cfg, fs, fc, out: Path) -> Path:
    from .train.cli import run_training

    t0 = time.perf_counter()
    teacher = run_training("teacher", cfg, fs, fc, out / "teacher")
    print(f"   teacher (speech log-Mel): test UA {teacher['ua']:.3f}")
    student = run_training("student", cfg, fs, fc, out / "student")
    print(f"   edge student (EGG frames): test UA {student['ua']:.3f}  "
          f"[{time.perf_counter() - t0:.0f} s for both]")
    return out / "student" / "best.pt"


# --- 5. streaming ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Streamed:
    rows: np.ndarray          # indices into the FeatureSet
    pcm: np.ndarray           # int16 EGG fed to the board
    spans: list[tuple[int, int]]  # sample range of each utterance in pcm


def held_out_stream(fs, ckpt: dict, items, n: int) -> tuple[Streamed, str]:
    """The test-split utterances of the speaker with the most of them (a wearer is one speaker),
    as one int16 EGG stream with silence between utterances."""
    from .train.data import read_item

    test_ids = set(ckpt["train_config"]["test_utt_ids"])
    rows = np.array([i for i, u in enumerate(fs.utt_ids) if str(u) in test_ids])
    speakers, counts = np.unique(fs.speakers[rows], return_counts=True)
    speaker = str(speakers[np.argmax(counts)])
    rows = rows[fs.speakers[rows] == speaker]
    # round-robin over the emotions, so a short stream still covers them all
    by_label = [list(rows[fs.labels[rows] == k]) for k in range(len(fs.label_names))]
    order = [grp[i] for i in range(max(map(len, by_label))) for grp in by_label if i < len(grp)]
    rows = np.array(order[:n])
    by_id = {it.utt_id: it for it in items}
    gap = np.zeros(int(GAP_S * FS), np.float32)
    parts, spans, pos = [gap], [], len(gap)
    for r in rows:
        _, egg = read_item(by_id[str(fs.utt_ids[r])], FS)
        parts += [egg, gap]
        spans.append((pos, pos + len(egg)))
        pos += len(egg) + len(gap)
    pcm = np.clip(np.round(np.concatenate(parts) * 32767), -32768, 32767).astype(np.int16)
    return Streamed(rows, pcm, spans), speaker


def board_geometry() -> tuple[int, int]:
    """(hop, frame) in input samples of the F0 frames the board sends at FS: the F0 core's defaults."""
    from .core.f0 import F0Params, geometry

    g = geometry(FS, F0Params())
    return g.hop * g.dec, g.frame_len * g.dec


def match_predictions(preds, spans: list[tuple[int, int]], hop: int, frame: int) -> list[str | None]:
    """The live label of each streamed utterance: the prediction whose frames overlap it most."""
    out: list[str | None] = [None] * len(spans)
    best = [0] * len(spans)
    for p in preds:
        a, b = p.first * hop + frame // 2, p.last * hop + frame // 2   # frame centres, samples
        for k, (s, e) in enumerate(spans):
            overlap = min(b, e) - max(a, s)
            if overlap > best[k]:
                best[k], out[k] = overlap, p.label
    return out


def board_firmware(export_dir: Path, report: dict, build_dir: Path) -> tuple[Path, bool]:
    """(ELF, whether the board carries the model): the QEMU firmware with the exported student
    compiled in when the export wrote it as C (a CNN student), else the firmware without a model."""
    from .host.emulator import build_firmware

    c = report.get("c_inference") or {}
    if c.get("available"):
        elf = build_firmware(build_dir, "qemu", model=export_dir)
        print(f"   firmware with the student compiled in (model id {c.get('model_id', 0):#010x}, "
              f"{c.get('weight_bytes', 0):,} B of weights, {c.get('scratch_bytes', 0):,} B scratch): {elf}")
        return elf, True
    why = c.get("reason") or "the export report has no C inference"
    elf = build_firmware()
    print(f"   the board cannot run this student ({why}): firmware without a model, the host classifies "
          f"alone: {elf}")
    return elf, False


def speaker_stats(items, speaker: str):
    """The speaker's F0 statistics over all their utterances, label-free (training's f0_norm =
    "speaker"), from the F0 core run on each utterance's EGG as the board runs it."""
    from .core.f0 import f0_track
    from .train.data import read_item
    from .train.features import F0Stats

    tracks = [f0_track(read_item(it, FS)[1], FS) for it in items if it.speaker == speaker]
    return F0Stats.from_frames([t.f0 for t in tracks], [t.voiced for t in tracks], [t.energy_db for t in tracks])


def stream_through_board(streamed: Streamed, elf: Path, export_dir: Path, stats, plain: bool, session: Path):
    from .runtime import StudentRuntime
    from .core import proto as P
    from .host.cli import _display
    from .host.emulator import Emulator
    from .host.monitor import Monitor, MonitorOptions
    from .host.pipeline import Classifier, F0Normaliser, ModelInfo
    from .host.record import Recorder

    # The streamed speaker's fixed statistics, as training normalised them (session statistics mix in
    # nothing else here, but are poor for the first utterances). The monitor gives them to a board that
    # classifies itself (SET_NORM, before START): board and host normalise alike and agree bit for bit.
    # The stream is one speaker's, so one setting covers it.
    info = ModelInfo.from_model(export_dir)      # the channels the student reads, from its export report
    classifier = Classifier(StudentRuntime.from_export_dir(export_dir), F0Normaliser("fixed", stats), info.crop, info)
    with Emulator(elf) as emu:
        print(f"   QEMU netduinoplus2 up at {emu.url}; streaming {len(streamed.pcm) / FS:.1f} s of EGG "
              f"({len(streamed.rows)} utterances)")
        mon = Monitor(emu.url, classifier, MonitorOptions(mode=P.MODE_F0, feed=streamed.pcm, feed_speed=0.0,
                                                           stop_at_end=True, open_timeout=10.0),
                      display=_display(plain), recorder=Recorder(session))
        t0 = time.perf_counter()
        mon.run()
        wall = time.perf_counter() - t0
    return mon, wall


# --- 6. summary --------------------------------------------------------------------------------

def plot_f0_tracks(path: Path, session: Path, mon, streamed: Streamed, fs) -> None:
    """F0 the board sent live (from the session recording) beside the F0 core run offline on
    the same utterance file: they are the same C code, so they should lie on top of each other."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .core.f0 import f0_track
    from .host.record import read_recording
    from .host.replay import frames_from_event

    frames = [frames_from_event(e) for e in read_recording(session).of_type("f0")]
    index = np.concatenate([f.index for f in frames])
    f0 = np.concatenate([f.f0_hz for f in frames])
    voiced = np.concatenate([f.voiced for f in frames])
    hop, frame = board_geometry()
    centre = index * hop + frame // 2
    k = min(3, len(streamed.rows))
    fig, axes = plt.subplots(k, 1, figsize=(9, 2.4 * k), squeeze=False)
    for i in range(k):
        ax = axes[i, 0]
        s, e = streamed.spans[i]
        sel = (centre >= s) & (centre < e) & voiced
        offline = f0_track(streamed.pcm[s:e], FS)
        ax.plot(offline.times[offline.voiced], offline.f0[offline.voiced], "o", ms=5, mfc="none",
                color="tab:orange", label="offline (F0 core on the file)")
        ax.plot((centre[sel] - s) / FS, f0[sel], ".", ms=4, color="tab:blue", label="live from the board (QEMU)")
        r = streamed.rows[i]
        ax.set_title(f"{fs.utt_ids[r]}: {fs.label_names[fs.labels[r]]}", fontsize=9)
        ax.set_ylabel("F0 (Hz)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel("time in utterance (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    from .train.cli import load_features
    from .train.config import load_config, replace
    from .train.data import load_corpus

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    t_start = time.perf_counter()

    ckpt_path = out / "student" / "best.pt"
    if args.skip_train and not ckpt_path.is_file():
        print(f"eggemo demo: --skip-train needs a trained student at {ckpt_path}; run without it once",
              file=sys.stderr)
        return 2

    step(1, "synthesise the speech+EGG emotional corpus")
    corpus = make_corpus(out, args.utterances, args.speakers, args.seed)
    cfg = replace(load_config(args.config), run={"threads": args.threads})
    fs, fc = load_features(cfg, corpus=corpus)
    print(f"   {len(fs)} utterances, {len(fs.label_names)} emotions, features {fs.logmel.shape[1:]} + {fs.f0.shape[1:]}")

    step(2, "train the teacher (speech) and the edge student (EGG frames)")
    if args.skip_train:
        print(f"   reusing {ckpt_path}")
    else:
        ckpt_path = train_models(cfg, fs, fc, out)
    for src in ("test_confusion.png", "test_tsne.png"):
        for who in ("teacher", "student"):
            f = out / who / src
            if f.is_file():
                shutil.copy(f, plots / f"{who}_{src}")

    from .export.data import from_featureset
    from .export.pipeline import export_settings, export_student
    from .train.checkpoint import load_checkpoint

    model, ckpt = load_checkpoint(ckpt_path)
    # the recipe's [export] (16x8, snapped weights): the checkpoint's, else --config's (an older
    # checkpoint reused by --skip-train); a BiLSTM student is exported in int8
    from .train.config import to_dict
    activations, snap = export_settings(ckpt, fallback=to_dict(cfg)["export"], log=lambda m: print(f"   {m}"))
    step(3, "export the student: int8 TFLite checked in TFLite Micro"
         + (", and the deployed 16x8 model (int16 activations) as C" if activations == "int16" else ""))
    export_dir = out / "export"
    report = export_student(ckpt_path, export_dir, from_featureset(fs, ckpt["train_config"], str(corpus)),
                            activations=activations, snap=snap, log=lambda m: print(f"   {m}"))

    step(4, "build the firmware with the student and boot it in QEMU")
    elf, on_board = board_firmware(export_dir, report, out / "firmware")
    step(5, "stream held-out utterances through the emulated board, live monitor on")
    items = load_corpus(corpus)
    streamed, speaker = held_out_stream(fs, ckpt, items, args.stream)
    stats = speaker_stats(items, speaker)
    print(f"   speaker {speaker}'s F0 statistics over their {stats.n} voiced frames: mu {stats.mu:.4f}, "
          f"sigma {stats.sigma:.4f} (ln Hz); host and board normalise with them")
    session = out / "session"
    if session.exists():
        shutil.rmtree(session)
    mon, wall = stream_through_board(streamed, elf, export_dir, stats, args.plain, session)

    step(6, "summary")
    summary = summarise(mon, streamed, fs, model, export_dir, report, speaker, wall, on_board)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_f0_tracks(plots / "f0_tracks.png", session, mon, streamed, fs)
    print(f"\n   plots: {plots}/  summary: {out / 'summary.json'}  "
          f"[{time.perf_counter() - t_start:.0f} s in all]")
    return 0


def summarise(mon, streamed: Streamed, fs, model, export_dir: Path, report: dict, speaker: str, wall: float,
              on_board: bool = False) -> dict:
    import torch

    from .runtime import StudentRuntime

    y = fs.labels[streamed.rows]
    names = list(fs.label_names)
    x = fs.f0[streamed.rows]
    with torch.no_grad():
        float_pred = model(torch.from_numpy(x))[0].argmax(1).numpy()
    rt = StudentRuntime.from_export_dir(export_dir)      # the deployed model: 16x8 for the recipe
    kind = "16x8" if rt.bits == 16 else "int8"
    dep_pred = np.array([int(np.argmax(rt.logits(u))) for u in x])
    hop, frame = board_geometry()
    live = match_predictions(mon.predictions, streamed.spans, hop, frame)
    live_pred = np.array([names.index(lbl) if lbl is not None else -1 for lbl in live])
    board = match_predictions(mon.board_predictions, streamed.spans, hop, frame)   # the board's own
    board_pred = np.array([names.index(lbl) if lbl in names else -1 for lbl in board])
    ms = mon.summary()
    status = mon.board_status
    link = mon.link_counters()
    acc = lambda p: float(np.mean(p == y))  # noqa: E731
    norm = mon.classifier.normaliser
    s = {
        "speaker": speaker, "utterances": int(len(y)),
        "deployed": {"file": (report.get("deploy") or {}).get("file", "student_int8.tflite"), "kind": kind},
        "accuracy": {"offline_float": acc(float_pred), "offline_deployed": acc(dep_pred), "live_host": acc(live_pred),
                     "board": acc(board_pred) if on_board else None},
        "normalisation": {"mode": norm.mode, "of": f"speaker {speaker}",
                          **(dataclasses.asdict(norm.fixed) if norm.fixed is not None else {}),
                          "board_acknowledged": mon.board_norm is not None if on_board else None},
        "deployed_vs_float_agreement": float(np.mean(dep_pred == float_pred)),
        "live_vs_offline_deployed_agreement": float(np.mean(live_pred == dep_pred)),
        "utterances_without_live_prediction": int(np.sum(live_pred < 0)),
        "live_predictions": len(mon.predictions),
        "board": {"model": on_board, "why_not": None if on_board else (report.get("c_inference") or {}).get(
                      "reason", "the export report has no C inference"),
                  "model_id": (report.get("c_inference") or {}).get("model_id") if on_board else None,
                  "runs_the_exported_model": ms.get("board_runs_the_model"),
                  "predictions": ms["board_predictions"],
                  "labels": board,                  # the board's label of each streamed utterance
                  "utterances_without_board_prediction": int(np.sum(board_pred < 0)) if on_board else None,
                  "agreement_with_host": ms.get("agreement"),
                  "cost_per_inference": ms.get("board_cost")},
        "export": {"int8_bytes": report["int8"]["size_bytes"], "tflm_arena_bytes": report["tflm"].get("arena_bytes"),
                   "int16x8_bytes": (report.get("int16x8") or {}).get("size_bytes"),
                   "c_scratch_bytes": (report.get("c_inference") or {}).get("scratch_bytes")},
        "firmware": {} if status is None else {"hops": status.hops, "hop_cost_mean": status.hop_cost_mean,
                                                "hop_cost_max": status.hop_cost_max,
                                                "cost_unit": "instructions (QEMU -icount)",
                                                "budget_per_hop": 336000},
        "link": {k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in link.items()},
        "stream_seconds": len(streamed.pcm) / FS, "wall_seconds": wall,
        "latency_ms_p95": float(np.percentile(mon.latencies_ms, 95)) if mon.latencies_ms else None,
    }
    print(f"   speaker {speaker}, {len(y)} held-out utterances streamed ({s['stream_seconds']:.0f} s of EGG "
          f"in {wall:.0f} s through QEMU)")
    print(f"   | utterance | truth | float | {kind} | live (host) | live (board) |")
    for i, r in enumerate(streamed.rows):
        print(f"   | {fs.utt_ids[r]} | {names[y[i]]} | {names[float_pred[i]]} | {names[dep_pred[i]]} | "
              f"{live[i] or '-'} | {board[i] or '-'} |")
    a = s["accuracy"]
    print(f"   accuracy: offline float {a['offline_float']:.2f}, offline {kind} {a['offline_deployed']:.2f}, "
          f"live on the host {a['live_host']:.2f}"
          + (f", on the board {a['board']:.2f}" if on_board else " (the board carries no model)"))
    b = s["board"]
    if on_board:
        if norm.mode == "fixed":
            print("   normalisation: the speaker's fixed F0 statistics on the host and, "
                  + ("given with SET_NORM, on the board" if s["normalisation"]["board_acknowledged"]
                     else "as the board refused SET_NORM, the model's own on the board"))
        g = b["agreement_with_host"]
        print(f"   board vs host, per utterance: {g['identical']} of {g['paired'] + g['unpaired']} identical "
              f"(label and scores), {g['disagreements']} disagree, {g['unpaired']} unpaired"
              + ("" if b["runs_the_exported_model"] else "; the board ran another model than the export"))
        c = b["cost_per_inference"]
        if c:
            print(f"   board inference (features + {kind} student): {c['mean']:,.0f} mean / {c['max']:,} max "
                  f"{c['unit']} per utterance")
    print(f"   quantisation drift: {kind}/float (the checkpoint's) agreement {s['deployed_vs_float_agreement']:.2f}; "
          f"live/offline-{kind} agreement {s['live_vs_offline_deployed_agreement']:.2f}")
    if status is not None:
        print(f"   firmware F0: {status.hop_cost_mean:,} mean / {status.hop_cost_max:,} max "
              f"{s['firmware']['cost_unit']} per 10 ms hop (budget 336,000), {status.hops} hops")
    e = s["export"]
    print(f"   int8 model {e['int8_bytes']:,} B, TFLite Micro arena {e['tflm_arena_bytes']:,} B"
          + (f"; deployed 16x8 model {e['int16x8_bytes']:,} B" if e["int16x8_bytes"] else "")
          + (f"; the board runs the deployed model as C in {e['c_scratch_bytes']:,} B of scratch"
             if e["c_scratch_bytes"] else ""))
    print("   link: " + ", ".join(f"{k} {v}" for k, v in s["link"].items()))
    return s
