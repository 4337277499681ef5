"""`eggemo monitor --replay DIR --plot out.png`: a whole recording as one picture.

The live F0 panel's view, for the whole session: the F0 trace on a log-Hz axis with its
unvoiced gaps, each utterance the segmenter cut shaded and labelled with its prediction, and
the class probabilities of each prediction under it. The time axis counts F0 frames in the
order they arrived (10 ms each), as the live trace does: link gaps and stream restarts are
marked, not stretched. matplotlib is imported only here (the host extra does not install it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .pipeline import Classifier, Segmenter
from .record import read_recording
from .replay import frames_from_event, segmenter_config

FORMATS = (".png", ".svg", ".pdf")


@dataclass
class Span:
    first: int                      # trace positions (frames since the recording began)
    last: int
    label: str = ""                 # "" when nothing was predicted for it
    probs: np.ndarray | None = None
    index: tuple[int, int] = (0, 0)  # its first and last frame index in its stream


@dataclass
class Timeline:
    f0_hz: np.ndarray               # per frame, in arrival order; NaN where unvoiced
    hop_s: float
    spans: list[Span]
    label_names: tuple[str, ...]
    breaks: list[tuple[int, str]]   # (position, why): stream restarts and link gaps
    source: str                     # where the labels come from
    skipped: list[str] = field(default_factory=list)

    @property
    def predictions(self) -> int:
        return sum(1 for s in self.spans if s.label)


def timeline(folder: str | Path, classifier: Classifier | None = None) -> Timeline:
    """The recording's F0 in arrival order and its utterances: cut by the segmentation it was
    recorded with, labelled by classifier when given (a fresh one: "session" normalisation
    remembers every utterance it saw), else by the recording's own predictions."""
    rec = read_recording(folder)
    seg_cfg = segmenter_config(rec)
    seg = Segmenter(seg_cfg)
    f0: list[np.ndarray] = []
    pos = 0
    pos_of: dict[int, int] = {}             # frame index -> position, latest stream wins
    spans: list[Span] = []
    breaks: list[tuple[int, str]] = []
    skipped: list[str] = [str(p) for p in rec.problems]   # lines read_recording could not use
    labels: list[str] = list(classifier.label_names) if classifier is not None else []
    header = rec.events[0].get("model") if rec.events else None
    if not labels and isinstance(header, dict) and isinstance(header.get("labels"), list):
        labels = [str(x) for x in header["labels"]]
    probs_ok = bool(labels)                 # recorded probabilities are in the header's label order

    def close(utts, classify: bool = True) -> None:
        for u in utts:
            last = pos_of.get(u.last, pos - 1)
            span = Span(last - (u.last - u.first), last, index=(u.first, u.last))
            if classifier is not None and classify:
                p = classifier.predict(u)
                span.label, span.probs = p.label, np.asarray(p.probs, np.float64)
            spans.append(span)

    for n, e in enumerate(rec.events):
        kind = e.get("type")
        try:
            if kind == "f0":
                frames = frames_from_event(e)
                for k, i in enumerate(frames.index.tolist()):
                    pos_of[i] = pos + k
                f0.append(np.where(frames.voiced & (frames.f0_hz > 0), frames.f0_hz, np.nan).astype(np.float64))
                pos += len(frames.index)
                close(seg.push(frames))
            elif kind == "end":
                close(seg.end(str(e["reason"])))
            elif kind == "start" and pos > 0 and not (breaks and breaks[-1][0] == pos):
                breaks.append((pos, "restart"))                # (after a link gap, the gap says it)
            elif kind == "gap":
                breaks.append((pos, f"link gap {float(e['seconds']):.1f} s"))
            elif kind == "prediction" and classifier is None:
                _attach(spans, e, labels, probs_ok)
        except (KeyError, TypeError, ValueError) as exc:
            skipped.append(f"event {n + 1} ({kind!r}): {type(exc).__name__}: {exc}")
    close(seg.end("recording_end"), classify=False)   # cut off by the end: shown, never predicted live
    source = "this model" if classifier is not None else "the recording's predictions"
    return Timeline(np.concatenate(f0) if f0 else np.zeros(0), seg_cfg.hop_ms / 1000.0, spans, tuple(labels),
                    breaks, source, skipped)


def _attach(spans: list[Span], e: dict, labels: list[str], probs_ok: bool) -> None:
    """Label the utterance a recorded prediction line belongs to: the line follows the frames
    that closed it, so it is one of the latest spans, with the same frame indices."""
    first, last, label = int(e["first"]), int(e["last"]), str(e["label"])
    if label not in labels:
        labels.append(label)
    for span in reversed(spans[-8:]):
        if not span.label and span.index == (first, last):
            span.label = label
            probs = e.get("probs")
            if probs_ok and isinstance(probs, list) and len(probs) == len(labels):
                span.probs = np.asarray(probs, np.float64)
            return


def check_output(path: str | Path) -> Path:
    """The picture's path, refused before any work when matplotlib is missing or the path cannot
    be written (as `eggemo f0 --plot`: missing parent folders are made)."""
    from eggemo.outpath import check_out_file

    _pyplot()
    path = Path(path)
    if not path.is_dir() and path.suffix.lower() not in FORMATS:     # a folder gets its own message
        raise ValueError(f"--plot {path}: give a file name ending in {', '.join(FORMATS)}")
    return check_out_file(path, "--plot", make_parent=True)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib, which the host extra does not install: "
                           "pip install matplotlib (or install eggemo[train], which has it)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_timeline(tl: Timeline, out: str | Path, title: str = "") -> Path:
    """Draw the timeline: F0 with utterances and labels on top, class probabilities below."""
    out = check_output(out)
    plt = _pyplot()
    from matplotlib.ticker import FixedLocator, NullLocator

    n = len(tl.f0_hz)
    seconds = max(n * tl.hop_s, 1.0)
    t = np.arange(n) * tl.hop_s
    colors = dict(zip(tl.label_names, plt.get_cmap("tab10").colors))
    fig, (ax, axp) = plt.subplots(2, 1, sharex=True, figsize=(min(max(8.0, seconds / 4.0), 30.0), 5.2),
                                  gridspec_kw={"height_ratios": [3, 1]})
    for s in tl.spans:
        x0, x1 = s.first * tl.hop_s, (s.last + 1) * tl.hop_s
        ax.axvspan(x0, x1, color=colors.get(s.label, "0.6"), alpha=0.18, lw=0)
        for x in (x0, x1):                                  # the boundaries, also where spans touch
            ax.axvline(x, color="0.45", lw=0.6)
            axp.axvline(x, color="0.7", lw=0.5)
    ax.plot(t, tl.f0_hz, color="tab:green", lw=1.1)          # NaN (unvoiced) leaves a gap
    voiced = tl.f0_hz[np.isfinite(tl.f0_hz)]
    lo, hi = (np.percentile(voiced, [0.5, 99.5]) if len(voiced) else (60.0, 400.0))
    lo, hi = max(30.0, lo / 1.15), min(2000.0, hi * 1.15)
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ticks = [f for f in (40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 600, 800, 1000) if lo <= f <= hi]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([str(f) for f in ticks])
    ax.set_ylabel("F0 (Hz)")
    for s in tl.spans:
        if s.label:
            ax.text((s.first + s.last + 1) / 2 * tl.hop_s, hi, s.label, ha="center", va="bottom", fontsize=9,
                    color=colors.get(s.label, "k"), fontweight="bold", clip_on=False)
    for p, why in tl.breaks:
        for a in (ax, axp):
            a.axvline(p * tl.hop_s, color="tab:red", ls="--", lw=0.8)
        ax.text(p * tl.hop_s, lo, f" {why}", color="tab:red", fontsize=7, va="bottom")
    # probabilities: one stacked column per predicted utterance, as wide as the utterance
    for s in tl.spans:
        if s.probs is None or len(s.probs) != len(tl.label_names):
            continue
        bottom = 0.0
        for name, p in zip(tl.label_names, s.probs):
            axp.bar(s.first * tl.hop_s, p, width=(s.last - s.first + 1) * tl.hop_s, bottom=bottom, align="edge",
                    color=colors[name], lw=0)
            bottom += p
    axp.set_ylim(0, 1)
    axp.set_ylabel("p(class)")
    axp.set_xlabel(f"seconds of F0 received ({1000 * tl.hop_s:g} ms frames, in arrival order)")
    axp.set_xlim(0, seconds)
    if tl.label_names:
        handles = [plt.Rectangle((0, 0), 1, 1, color=colors[name]) for name in tl.label_names]
        axp.legend(handles, tl.label_names, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8,
                   frameon=False)
    heading = (f"{title}: " if title else "") + (f"{n * tl.hop_s:.1f} s of F0, {len(tl.spans)} utterances, "
                                                f"{tl.predictions} predicted ({tl.source})")
    ax.set_title(heading, fontsize=10, pad=16)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise ValueError(f"--plot {out}: cannot write it ({exc.strerror or exc}); choose another path") from None
    finally:
        plt.close(fig)
    return out
