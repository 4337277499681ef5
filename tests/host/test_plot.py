"""`eggemo monitor --replay DIR --plot out.png`: the whole recording as a picture. The recording
is made by the real monitor from a board on a pty that is unplugged and replugged (so F0
indices restart and the link has a gap), with the exported int8 student predicting."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from eggemo.cli import main
from eggemo.core import proto as P
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.pipeline import Classifier
from eggemo.host.plot import timeline
from eggemo.host.record import Recorder, read_recording

from .conftest import HELD_OUT
from .test_reconnect import PtyBoard, wait_for

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def recording(tmp_path_factory, exported_model, corpus):
    pytest.importorskip("matplotlib")
    d = tmp_path_factory.mktemp("plot")
    port = str(d / "ttyEGG")
    a, b = corpus[HELD_OUT[0]][1], corpus[HELD_OUT[1]][1]
    first = PtyBoard(port, a, speed=8.0)
    clf = Classifier.from_model(exported_model, "session")    # normalisation with memory, as per-speaker models
    header = {"port": port, "model": {"path": str(exported_model), "labels": list(clf.label_names)}}  # as the CLI
    mon = Monitor(port, clf, MonitorOptions(mode=P.MODE_F0, status_every_s=0.2, duration=60.0),
                  recorder=Recorder(d / "rec", header))
    runner = threading.Thread(target=mon.run, daemon=True)
    runner.start()
    second = None
    try:
        wait_for(lambda: first.board.finished and len(mon.predictions) >= 1, 30, "the first stream")
        first.unplug()
        wait_for(lambda: not mon.link.connected, 5, "the loss to be noticed")
        n_first = len(mon.predictions)
        second = PtyBoard(port, b, speed=8.0)
        wait_for(lambda: second.board.finished and mon.link.connected, 30, "the second stream")
        wait_for(lambda: len(mon.predictions) > n_first, 10, "a prediction from the second stream")
    finally:
        mon.stop()
        runner.join(10)
        if second is not None:
            second.unplug()
    return d / "rec", [p.as_dict() for p in mon.predictions]


def test_plot_without_a_model_draws_what_was_predicted_live(recording, tmp_path, capsys):
    rec_dir, live = recording
    out = tmp_path / "session.png"
    assert main(["monitor", "--replay", str(rec_dir), "--plot", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_bytes()[:8] == PNG
    assert f"{len(live)} predicted (the recording's predictions)" in printed and f"wrote {out}" in printed

    tl = timeline(rec_dir)
    assert [s.label for s in tl.spans if s.label] == [p["label"] for p in live]
    assert [s.index for s in tl.spans if s.label] == [(p["first"], p["last"]) for p in live]
    for s, p in zip([s for s in tl.spans if s.label], live):
        np.testing.assert_allclose(s.probs, p["probs"])
    # positions run on across the restart: the second stream's utterance lies after the first's
    firsts = [s.first for s in tl.spans]
    assert firsts == sorted(firsts) and tl.spans[-1].index[0] < tl.spans[-1].first
    assert [why for _, why in tl.breaks][:1] == ["restart"] or any("gap" in w for _, w in tl.breaks)
    rec = read_recording(rec_dir)
    frames = sum(len(e["index"]) for e in rec.of_type("f0"))
    unvoiced = sum(int(np.sum(~np.asarray(e["voiced"], bool))) for e in rec.of_type("f0"))
    assert len(tl.f0_hz) == frames and int(np.isnan(tl.f0_hz).sum()) >= unvoiced   # gaps stay gaps


def test_plot_with_a_model_draws_its_predictions(recording, exported_model, tmp_path, capsys):
    rec_dir, live = recording
    out = tmp_path / "replayed.svg"
    assert main(["monitor", "--replay", str(rec_dir), "--model", str(exported_model), "--norm", "session",
                 "--plot", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(live)} predicted (this model)" in printed and f"replayed {len(live)} predictions" in printed
    assert f"{len(live)} identical" in printed
    assert out.read_text().lstrip().startswith("<?xml")
    tl = timeline(rec_dir, Classifier.from_model(exported_model, "session"))
    predicted = [s for s in tl.spans if s.label]
    assert [s.label for s in predicted] == [p["label"] for p in live]
    for s, p in zip(predicted, live):                         # the same numbers as live, not just labels
        np.testing.assert_allclose(s.probs, p["probs"], rtol=1e-6)


@pytest.mark.parametrize("name, msg", [("x.txt", "ending in .png, .svg, .pdf"),
                                       (".", "is a folder, not a file"),
                                       ("afile/x.png", "is a file, not a folder")])
def test_bad_plot_paths_are_refused_before_any_work(recording, exported_model, tmp_path, capsys, name, msg):
    rec_dir, _ = recording
    (tmp_path / "afile").write_text("not a folder")
    assert main(["monitor", "--replay", str(rec_dir), "--model", str(exported_model),
                 "--plot", str(tmp_path / name)]) == 2
    out, err = capsys.readouterr()
    assert msg in err and "replayed" not in out and "Traceback" not in err
    assert not (tmp_path / "x.txt").exists()


def test_plot_makes_a_missing_folder(recording, tmp_path, capsys):
    rec_dir, _ = recording
    assert main(["monitor", "--replay", str(rec_dir), "--plot", str(tmp_path / "new" / "s.pdf")]) == 0
    assert (tmp_path / "new" / "s.pdf").read_bytes()[:5] == b"%PDF-"


def test_plot_needs_a_recording(capsys, tmp_path):
    assert main(["monitor", "--port", "loop://", "--plot", str(tmp_path / "x.png")]) == 2
    assert "--plot draws a recording: use it with --replay DIR" in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_get_it(recording, tmp_path):
    """The host extra does not install matplotlib: the message says so, nothing is written."""
    rec_dir, _ = recording
    out = tmp_path / "p.png"
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "matplotlib":
                    raise ImportError("blocked")
        sys.meta_path.insert(0, Block())
        from eggemo.cli import main
        sys.exit(main(["monitor", "--replay", {str(rec_dir)!r}, "--plot", {str(out)!r}]))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "--plot needs matplotlib" in res.stderr and "pip install matplotlib" in res.stderr
    assert "Traceback" not in res.stderr and not out.exists()
