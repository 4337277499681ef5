"""`pip install eggemo[host]` needs neither torch nor TensorFlow: in a subprocess where importing
them (or librosa, tf_keras) raises, every host module imports, the monitor command runs, and the
int8 student predicts through ai-edge-litert."""
from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = ("torch", "tensorflow", "tf_keras", "librosa", "keras")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: the host must not need it")
            return None

    sys.meta_path.insert(0, Block())
""")

HOST_MODULES = ("cli", "display", "emulator", "link", "lsl", "monitor", "pipeline", "record", "replay", "transport")
# what the host reads besides its own package: the C core's twins and export's artefacts
SHARED_MODULES = ("eggemo.core.f0", "eggemo.core.proto", "eggemo.core.seg", "eggemo.core.feat", "eggemo.core.nn",
                  "eggemo.runtime")


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


def test_host_modules_import_without_torch_or_tensorflow():
    mods = ", ".join(repr("eggemo.host." + m) for m in HOST_MODULES) + ", " + ", ".join(map(repr, SHARED_MODULES))
    res = run_blocked(f"""
        import importlib
        for m in ({mods}):
            importlib.import_module(m)
        from eggemo.cli import main
        assert main(["monitor", "--port", "loop://", "--duration", "0.3", "--plain"]) == 0
        try:
            import torch
        except ImportError:
            print("blocked ok")
    """)
    assert res.returncode == 0, res.stderr
    assert "blocked ok" in res.stdout


def test_int8_inference_without_torch_or_tensorflow(exported_model, corpus):
    import numpy as np

    from eggemo.host.pipeline import Classifier, Utterance

    from .conftest import HELD_OUT

    from eggemo.core.f0 import f0_track
    tr = f0_track(corpus[HELD_OUT[0]][1], 16000)
    np.save(exported_model.parent / "f0.npy", np.where(tr.voiced, tr.f0, 0).astype(np.float32))
    np.save(exported_model.parent / "voiced.npy", tr.voiced)
    want = Classifier.from_model(exported_model).predict(
        Utterance(0, np.load(exported_model.parent / "f0.npy"), tr.voiced, "test"))
    res = run_blocked(f"""
        import numpy as np
        from eggemo.host.pipeline import Classifier, Utterance
        clf = Classifier.from_model({str(exported_model)!r})
        p = clf.predict(Utterance(0, np.load({str(exported_model.parent / "f0.npy")!r}),
                                  np.load({str(exported_model.parent / "voiced.npy")!r}), "test"))
        print("RAW", p.raw.tolist())
    """)
    assert res.returncode == 0, res.stderr
    assert f"RAW {want.raw.tolist()}" in res.stdout
