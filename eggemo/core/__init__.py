"""The C core's Python twins: one module per csrc module, each beside its C.

| csrc          | here                 | what                                                            |
|---------------|----------------------|-----------------------------------------------------------------|
| emo_f0.c/.h   | eggemo.core.f0       | F0 and voice quality of the EGG: NumPy reference and cffi binding |
| emo_proto.c/.h| eggemo.core.proto    | the serial protocol: framing, CRC, every frame's payload        |
| emo_seg.c/.h  | eggemo.core.seg      | the utterance segmenter                                         |
| emo_feat.c/.h | eggemo.core.feat     | the student's input: normalisation, channels, quantisation      |
| emo_nn.c/.h   | eggemo.core.nn       | the integer inference kernels and the lowered model they run    |

Each module holds the readable NumPy specification and the binding of its C routine side by side,
with the same signatures, and reads the C header's constants through cffi (`eggemo._emo`, built
from csrc/ at install time) instead of copying them. train/, export/ and host/ import the core;
beyond it, imports follow the data (train -> export), and the host reads export's artefacts, not
its code (tests/test_layers.py).
"""
from __future__ import annotations


def native():
    """(ffi, lib) of the C core built into eggemo._emo, or a clear error saying how to build it."""
    try:
        from eggemo._emo import ffi, lib
    except ImportError as exc:                     # pragma: no cover - an install without the build
        raise ImportError(f"the C core (eggemo._emo) is not built ({exc}); install the package from the "
                          f"checkout: `make venv`, or `pip install -e .`") from None
    return ffi, lib


def check(status: int, what: str) -> None:
    """A C core call's status as Python sees it: nothing for EMO_OK, else a ValueError naming the call
    and the status in the core's own words (emo_status_str)."""
    if status != 0:
        ffi, lib = native()
        raise ValueError(f"{what}: {ffi.string(lib.emo_status_str(status)).decode()} (status {status})")
