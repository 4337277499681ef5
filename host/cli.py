"""`eggemo monitor`: the live emotion monitor over serial, with recording, replay, reconnect and LSL.

    eggemo monitor --port /dev/ttyACM0 --model export_out/student_int8.tflite
    eggemo monitor --emulate utterance.wav --model export_out/        # firmware under QEMU
    eggemo monitor --port socket://127.0.0.1:4444 --record session1/  # a QEMU you started
    eggemo monitor --replay session1/ --model export_out/
"""
from __future__ import annotations

import argparse
import hashlib
import signal
import sys
from pathlib import Path

from eggemo.options import add_egg_channel, add_fs

from eggemo.core import proto as P
from .pipeline import SegmenterConfig

MODES = {"f0": P.MODE_F0, "raw": P.MODE_RAW, "both": P.MODE_BOTH}


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("source (one of)")
    src.add_argument("--port", help="pyserial URL or device: /dev/ttyACM0, socket://127.0.0.1:4444 (QEMU), "
                     "loop://, a pty")
    src.add_argument("--emulate", type=Path, metavar="WAV", help="build the firmware if needed, boot it in QEMU and "
                     "stream this EGG recording into it")
    src.add_argument("--replay", type=Path, metavar="DIR", help="replay a folder written by --record")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="with --replay: draw the whole recording (F0, "
                   "utterances, predictions over time) into this picture (.png, .svg, .pdf; needs matplotlib); "
                   "without --model, as it was predicted live")
    p.add_argument("--model", type=Path, help="an `eggemo export` folder (its deployed model: student_16x8.tflite "
                   "for the recipe, else student_int8.tflite) or one of those files; without it: F0 and link "
                   "statistics only")
    p.add_argument("--norm", help="F0 normalisation: utterance | session | FILE.json with {\"mu\", \"sigma\"} of ln F0 "
                   "(default: what the model was trained with; per-speaker training -> session)")
    p.add_argument("--mode", choices=sorted(MODES), help="what the board streams (default: both with --record, "
                   "so the EGG is kept; else f0). raw: F0 is computed on the host")
    add_fs(p, "ask the board to sample the EGG at this rate (8000 or 16000)", choices=(8000, 16000))
    p.add_argument("--record", type=Path, metavar="DIR", help="write egg.wav and session.jsonl into DIR (new or empty)")
    p.add_argument("--fsync", action="store_true", help="with --record: fsync each block (survives power loss too)")
    p.add_argument("--feed", type=Path, metavar="WAV", help="stream this EGG recording into the board at --port "
                   "in place of its ADC (the QEMU board, or the chip image under QEMU)")
    add_egg_channel(p)
    p.add_argument("--speed", type=float, default=1.0, help="--emulate/--feed pace, x real time (0: as fast as the "
                   "link goes; default 1)")
    p.add_argument("--exit-at-end", action="store_true", help="with --emulate/--feed: stop when the recording has "
                   "been streamed and the board's final report is in")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--plain", action="store_true", help="plain text lines instead of the live screen (logs, CI)")
    p.add_argument("--lsl", action="store_true", help="publish F0 and predictions as Lab Streaming Layer outlets")
    p.add_argument("--no-reconnect", action="store_true", help="exit when the port goes away instead of retrying")
    p.add_argument("--open-timeout", type=float, default=0.0, help="keep trying to open the port this long at "
                   "start (seconds; default: fail at once)")
    seg = p.add_argument_group("utterance segmentation")
    d = SegmenterConfig()
    seg.add_argument("--hangover-ms", type=float, default=d.hangover_ms, help=f"unvoiced time that ends an "
                     f"utterance (default {d.hangover_ms:g})")
    seg.add_argument("--preroll-ms", type=float, default=d.preroll_ms, help=f"silence kept before the first voiced "
                     f"frame (default {d.preroll_ms:g})")
    seg.add_argument("--tail-ms", type=float, default=d.tail_ms, help=f"silence kept after the last voiced frame "
                     f"(default {d.tail_ms:g})")
    seg.add_argument("--min-voiced-ms", type=float, default=d.min_voiced_ms, help=f"shorter voicing is ignored "
                     f"(default {d.min_voiced_ms:g})")


def _fail(msg: str) -> int:
    print(f"eggemo monitor: {msg}", file=sys.stderr)
    return 2


def _plot(args: argparse.Namespace, classifier) -> None:
    from .plot import plot_timeline, timeline

    if classifier is not None:     # a fresh one: session normalisation keeps what the replay saw
        from .pipeline import Classifier

        classifier = Classifier.from_model(args.model, args.norm)
    tl = timeline(args.replay, classifier)
    for s in tl.skipped:
        print(f"eggemo monitor: --plot skipped {s}", file=sys.stderr)
    out = plot_timeline(tl, args.plot, title=args.replay.name)
    print(f"wrote {out}: {len(tl.f0_hz) * tl.hop_s:.1f} s of F0, {len(tl.spans)} utterances, "
          f"{tl.predictions} predicted ({tl.source})", flush=True)


def _display(plain: bool):
    from .display import LiveDisplay, PlainDisplay

    return PlainDisplay() if plain or not sys.stdout.isatty() else LiveDisplay()


def main(args: argparse.Namespace) -> int:
    sources = [n for n, v in (("--port", args.port), ("--emulate", args.emulate), ("--replay", args.replay)) if v]
    if len(sources) != 1:
        return _fail(f"give exactly one of --port, --emulate or --replay (got {', '.join(sources) or 'none'})")
    if args.plot is not None and args.replay is None:
        return _fail("--plot draws a recording: use it with --replay DIR (record one with --record DIR)")
    try:
        seg = SegmenterConfig(hangover_ms=args.hangover_ms, preroll_ms=args.preroll_ms, tail_ms=args.tail_ms,
                              min_voiced_ms=args.min_voiced_ms)
        classifier = None
        if args.model is not None:
            from .pipeline import Classifier

            classifier = Classifier.from_model(args.model, args.norm)
        elif args.norm is not None:
            return _fail("--norm needs --model")
        if args.replay is not None:
            return _replay(args, classifier)
        return _live(args, classifier, seg)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        return _fail(str(exc))


def _replay(args: argparse.Namespace, classifier) -> int:
    from .display import MonitorState, plain_prediction
    from .replay import replay

    if args.plot is not None:
        from .plot import check_output

        check_output(args.plot)                 # before any work
        if classifier is None:
            _plot(args, None)
            return 0
    if classifier is None:
        return _fail("--replay needs --model to predict with (the recording's F0 is replayed through it), "
                     "or --plot FILE.png to draw the recording as it was predicted live")
    state = MonitorState(port=str(args.replay), label_names=tuple(classifier.label_names))

    def show(p) -> None:
        state.probs, state.label, state.predictions = p.probs, p.label, state.predictions + 1
        state.last_utterance_s = (p.last - p.first + 1) / 100.0
        print(plain_prediction(state), flush=True)

    res = replay(args.replay, classifier, on_prediction=show)
    if args.plot is not None:
        _plot(args, classifier)
    ok = sum(res.matches())
    note = " (the last line was cut: the recorder was killed)" if res.recording.truncated_line else ""
    print(f"replayed {len(res.predictions)} predictions; the recording has {len(res.recorded)}, "
          f"{ok} identical{note}")
    if res.payload_errors:
        from .display import payload_errors_text

        n = sum(res.payload_errors.values())
        print(f"board frames with a value outside its range, counted and never replayed: "
              f"{payload_errors_text({'payload_errors': n, 'payload_error_fields': res.payload_errors})}")
    if res.board:
        print(f"the board's own predictions: {len(res.board)}; {_agreement_line(res.agreement.summary())} "
              f"(replayed host predictions vs the board's)")
        from .monitor import model_id_of

        ids = {b.emotion.model_id for b in res.board}
        mine = model_id_of(classifier.info.path) if classifier.info is not None else None
        if mine is not None and ids != {mine}:
            print(f"eggemo monitor: warning: the board ran another model (id "
                  f"{', '.join(f'{i:#010x}' for i in sorted(ids))}) than --model (id {mine:#010x}); "
                  f"disagreements are expected", file=sys.stderr)
    _report_problems(res.recording.problems)
    return 0


def _agreement_line(a: dict) -> str:
    return (f"board vs host: {a['paired']} paired, {a['identical']} identical, {a['disagreements']} disagree "
            f"({a['other_label']} in label), {a['unpaired']} unpaired ({a['board_only']} board only, "
            f"{a['host_only']} host only)")


def _report_problems(problems: list[str]) -> None:
    """Lines of the recording that were skipped: said, never silently dropped."""
    if not problems:
        return
    print(f"eggemo monitor: {len(problems)} line(s) of the recording could not be replayed, so the counts "
          f"above may differ from the live session:", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)


def _board_model_dir(classifier) -> Path | None:
    """The export folder of --model when the board can run it itself (a CNN student: the report's
    c_inference says so), so that --emulate shows the board's predictions beside the host's."""
    info = getattr(classifier, "info", None) if classifier is not None else None
    if info is None or info.report is None:
        return None
    try:
        import json
        ci = json.loads(Path(info.report).read_text()).get("c_inference", {})
    except (OSError, ValueError):
        return None
    return Path(info.path).parent if ci.get("available") else None


class _CtrlC:
    """SIGINT for the live monitor, kept as a flag as well as raised, so that no code between
    QEMU's start and the monitor's loop can lose it (CI once saw a Ctrl-C at that moment vanish and
    the monitor stream on). Before the monitor runs it raises KeyboardInterrupt (and `check` raises
    it again if something swallowed it); once the monitor runs it stops it, the normal way to end.
    Installed from the main thread only (signal.signal refuses others); restores the old handler."""

    def __init__(self) -> None:
        self.hit = False
        self.monitor = None
        self._old = None

    def __enter__(self) -> "_CtrlC":
        import threading

        # not from a worker thread (signal.signal refuses), and not where SIGINT is ignored (a
        # shell's background job): that choice stands
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._old = signal.signal(signal.SIGINT, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _on_signal(self, *_) -> None:
        self.hit = True
        if self.monitor is not None:
            self.monitor.stop()
        else:
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt


def _live(args: argparse.Namespace, classifier, seg: SegmenterConfig) -> int:
    with _CtrlC() as ctrl_c:
        return _live_guarded(args, classifier, seg, ctrl_c)


def _live_guarded(args: argparse.Namespace, classifier, seg: SegmenterConfig, ctrl_c: _CtrlC) -> int:
    from .emulator import Emulator, build_firmware, load_egg
    from .monitor import Monitor, MonitorOptions
    from .record import Recorder
    from .transport import PortError

    mode = MODES[args.mode] if args.mode else (P.MODE_BOTH if args.record else P.MODE_F0)
    wav = args.emulate or args.feed
    feed = load_egg(wav, args.fs or 16000, args.egg_channel) if wav is not None else None
    if args.exit_at_end and feed is None:
        return _fail("--exit-at-end needs --emulate or --feed")
    emulator = None
    url = args.port
    if args.emulate is not None:
        model_dir = _board_model_dir(classifier)
        what = f" with the student of {model_dir} on board" if model_dir else ""
        print(f"eggemo monitor: building the firmware (make -C firmware BOARD=qemu){what} and booting QEMU...",
              file=sys.stderr, flush=True)
        firmware = build_firmware(model=model_dir)
        ctrl_c.check()
        emulator = Emulator(firmware)
    lsl = None
    recorder = None
    try:
        if emulator is not None:
            emulator.wait_listening(interrupted=lambda: ctrl_c.hit)
            url = emulator.url
        if args.lsl:
            from .lsl import LslOutlets

            lsl = LslOutlets(classifier.label_names if classifier else ())
        if args.record is not None:
            recorder = Recorder(args.record, _header(args, url, mode, classifier), fsync=args.fsync)
        options = MonitorOptions(mode=mode, fs=args.fs, seg=seg, reconnect=not args.no_reconnect,
                                 open_timeout=max(args.open_timeout, 5.0 if emulator else 0.0), feed=feed,
                                 feed_speed=args.speed, stop_at_end=args.exit_at_end, duration=args.duration)
        monitor = Monitor(url, classifier, options, recorder=recorder, display=None, lsl=lsl)
        terminated = []

        def _on_term(*_):
            terminated.append(True)
            monitor.stop()

        signal.signal(signal.SIGTERM, _on_term)
        display = _display(args.plain)
        monitor.display = display
        ctrl_c.check()
        ctrl_c.monitor = monitor
        try:
            with display:
                monitor.run()
        except KeyboardInterrupt:
            pass
        except PortError as exc:
            return _fail(str(exc))
        if monitor.error is not None:
            return _fail(monitor.error)
        lat = monitor.state.latency_percentiles()
        s = monitor.summary()
        board = ""
        if s["board_predictions"]:
            c = s["board_cost"]
            board = (f", {s['board_predictions']} from the board ({c['mean']:,.0f} mean / {c['max']:,} max "
                     f"{c['unit']} per inference)")
            if "agreement" in s:
                board += f"; {_agreement_line(s['agreement'])}"
                if not s["board_runs_the_model"]:
                    board += " -- the board runs another model than --model"
        print(f"eggemo monitor: {len(monitor.predictions)} predictions{board}"
              + (f", utterance end -> screen p50 {lat[0]:.1f} ms, p95 {lat[1]:.1f} ms" if lat else "")
              + f"; link {monitor.link_counters()}", file=sys.stderr)
        problem = _feed_problem(monitor, wav, feed, args.fs or 16000, args.egg_channel)
        if problem is not None and (ctrl_c.hit or terminated):
            # the user ended the session before the recording was through: what it did not give is
            # theirs to know, not a failure
            print(f"eggemo monitor: stopped by {'Ctrl-C' if ctrl_c.hit else 'SIGTERM'} before the end; {problem}",
                  file=sys.stderr)
        elif problem is not None:
            print(f"eggemo monitor: {problem}", file=sys.stderr)
            return 1
        return 0
    finally:
        if emulator is not None:
            emulator.close()


def _feed_problem(monitor, wav: Path | None, feed, fs: int, egg_channel: int | None) -> str | None:
    """What went wrong when a fed recording gave nothing to show: it was refused or never streamed,
    no F0 came back, or (with a model on either side) no utterance was classified. None when it gave
    what it should, or when nothing was fed."""
    if wav is None:
        return None
    total = len(feed) / fs
    fed = monitor.feed_sent / fs
    if monitor.feed_refused is not None:
        return monitor.feed_refused
    if monitor.feed_sent == 0:
        why = ("the board never acknowledged START" if monitor.hello is not None
               else "no valid HELLO came from the board" if monitor.link.stats.connects else "the port never opened")
        return f"nothing of {wav} was streamed ({why}); the link line above has the counters"
    if monitor.f0_frames == 0:
        return (f"the board sent no F0 frame for the {fed:.2f} of {total:.2f} s of {wav} it was fed; the link "
                f"line above has its counters (samples dropped, format errors)")
    classifies = monitor.classifier is not None or monitor.board_classifies
    if classifies and not monitor.predictions and not monitor.board_predictions:
        hop_ms = monitor.options.seg.hop_ms
        return (f"no utterance of {wav} was classified: {fed:.2f} of {total:.2f} s fed gave {monitor.f0_frames} "
                f"F0 frames, {monitor.f0_voiced} voiced ({monitor.f0_voiced * hop_ms / 1000:.2f} s); an utterance "
                f"needs {monitor.options.seg.min_voiced_ms:g} ms of voicing (--min-voiced-ms). Is the EGG in the "
                f"channel read ({f'channel {egg_channel}' if egg_channel else 'the last'}; --egg-channel N)?")
    return None


def _header(args, url: str, mode: int, classifier) -> dict:
    from eggemo import __version__ as version

    h = {"port": url, "mode": mode, "eggemo": version}
    if classifier is not None:
        info = classifier.info
        h["model"] = {"path": str(info.path), "sha256": hashlib.sha256(info.path.read_bytes()).hexdigest(),
                      "labels": list(classifier.label_names)}
    if args.emulate is not None or args.feed is not None:
        h["fed"] = str(args.emulate or args.feed)
    return h
