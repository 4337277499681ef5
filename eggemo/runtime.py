"""What `eggemo export` wrote, read back: the report, the deployed model, and the student run in
ai-edge-litert (numpy and ai-edge-litert only: no torch, no TensorFlow). The export writes these
files and the host reads them through this module, never through the export's code.

    model = StudentRuntime.from_export_dir("runs/export")       # student_int8.tflite + report labels
    probs = model.probabilities(f0)                            # f0: (T, 2) float, FeatureSet.f0[i]
    label, probs = model.predict(f0)

ai-edge-litert is the host runtime: it installs with numpy 2 and is maintained. tflite-runtime
stopped at 2.14.0 (2023); see docs/export.md for what was measured with it.

The LSTM keeps its state in variable tensors between invocations, so every utterance starts
with `reset_all_variables()`; without it each prediction leaks into the next.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from eggemo.core.feat import quantize

INT8_MODEL = "student_int8.tflite"
MODEL_16X8 = "student_16x8.tflite"       # `eggemo export --activations int16`: int16 activations
FLOAT_MODEL = "student_float.tflite"
REPORT = "export_report.json"


def deployed_model(out_dir: str | Path) -> Path:
    """The model an `eggemo export` folder deploys (the board's emo_model.c, the host's --model DIR):
    its report's deploy.file, student_int8.tflite when the report names none."""
    out_dir = Path(out_dir)
    report = out_dir / REPORT
    name = INT8_MODEL
    if report.is_file():
        deploy = read_report(report).get("deploy")          # a clear ValueError when unreadable
        if deploy is not None:
            if not isinstance(deploy, dict) or not isinstance(deploy.get("file", INT8_MODEL), str):
                raise ValueError(f"{report}: \"deploy\" must be an object with a \"file\" name, got {deploy!r}; "
                                 f"export the student again with `eggemo export CHECKPOINT --out DIR`")
            name = deploy.get("file") or INT8_MODEL
    if not name or Path(name).name != name:
        raise ValueError(f"{report}: deploy.file {name!r} is not a file name in the export folder; export the "
                         f"student again with `eggemo export CHECKPOINT --out DIR`")
    return out_dir / name


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(q, np.float64) - zero_point) * scale).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)


def read_report(path: str | Path) -> dict:
    """An export_report.json, or a clear error naming the file."""
    path = Path(path)
    try:
        report = json.loads(path.read_text())
        if not isinstance(report, dict) or not isinstance(report.get("label_names", []), list):
            raise ValueError("not a report object with a label_names list")
        return report
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable export report ({exc}); export the student again with "
                         f"`eggemo export CHECKPOINT --out DIR`, or remove the file") from None


class StudentRuntime:
    """One .tflite student (int8 or float) in the ai-edge-litert interpreter, one utterance per call."""

    def __init__(self, model: str | Path | bytes, label_names: list[str] | tuple[str, ...] | None = None,
                 num_threads: int = 1) -> None:
        name = "the model bytes"
        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found; write it with `eggemo export CHECKPOINT --out DIR`")
            name, model = str(path), path.read_bytes()
        try:
            # TFLite's reference kernels: the integer arithmetic TFLite Micro and the board's C inference
            # (csrc/emo_nn.c) use. The default XNNPACK delegate requantises its own way (up to a few
            # LSB apart on int8 students), so the host's scores would not be the board's.
            self._interp = Interpreter(model_content=bytes(model), num_threads=num_threads,
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"{name} is not a usable TFLite model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                             f"export it again with `eggemo export CHECKPOINT --out DIR`") from None
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ValueError(f"expected a student with one input and one output, got {len(inp)} and {len(out)}")
        self._in, self._out = inp[0], out[0]
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in self._in["shape"][1:])  # (T, C)
        self.n_classes = int(self._out["shape"][-1])
        self.quantized = self._in["dtype"] != np.float32
        self.input_scale, self.input_zero_point = self._in["quantization"]
        self.output_scale, self.output_zero_point = self._out["quantization"]
        self.input_dtype = np.dtype(self._in["dtype"])
        self.bits = {np.dtype(np.int8): 8, np.dtype(np.int16): 16}.get(self.input_dtype, 32)
        # what an EMOTION frame's int8 scores are in (eggemo.core.nn.narrow16): a 16x8 model's are narrowed
        self.frame_scale = self.output_scale * (256 if self.bits == 16 else 1)
        if label_names is not None and len(label_names) != self.n_classes:
            raise ValueError(f"{len(label_names)} label names for a model with {self.n_classes} outputs")
        self.label_names = tuple(label_names) if label_names is not None else tuple(
            f"class{i}" for i in range(self.n_classes))

    @classmethod
    def from_export_dir(cls, out_dir: str | Path, int8: bool = True, num_threads: int = 1) -> "StudentRuntime":
        """The deployed quantised model (int8, or 16x8: deployed_model) of an `eggemo export` folder,
        or its float model, with the label names of its report."""
        out_dir = Path(out_dir)
        report = out_dir / REPORT
        labels = read_report(report)["label_names"] if report.is_file() else None
        return cls(deployed_model(out_dir) if int8 else out_dir / FLOAT_MODEL, labels, num_threads)

    def _check(self, f0: np.ndarray) -> np.ndarray:
        x = np.asarray(f0, dtype=np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"the model takes one utterance of shape {self.input_shape} (frames, channels: "
                             f"normalised log-F0, voicing), got {x.shape}; pad or crop to "
                             f"{self.input_shape[0]} frames as the feature extraction does")
        if not np.all(np.isfinite(x)):
            raise ValueError("the F0 features contain NaN or inf; unvoiced frames must be 0, not NaN")
        return x

    def quantize_input(self, f0: np.ndarray) -> np.ndarray:
        """The int8 (16x8: int16) tensor the model (and the firmware) gets for float features f0 (T, C)."""
        x = self._check(f0)
        return quantize(x, self.input_scale, self.input_zero_point, np.dtype(self._in["dtype"])) \
            if self.quantized else x

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        """Invoke on an already quantised (T, C) input; the raw output (int8 or float), (n_classes,)."""
        self._interp.reset_all_variables()
        self._interp.set_tensor(self._in["index"], np.asarray(x, self._in["dtype"])[None])
        self._interp.invoke()
        return self._interp.get_tensor(self._out["index"])[0].copy()

    def logits(self, f0: np.ndarray) -> np.ndarray:
        """Float logits (n_classes,) for one utterance's F0 features (T, C)."""
        raw = self.run_raw(self.quantize_input(f0))
        return dequantize(raw, self.output_scale, self.output_zero_point) if self.quantized \
            else raw.astype(np.float32)

    def probabilities(self, f0: np.ndarray) -> np.ndarray:
        return softmax(self.logits(f0))

    def predict(self, f0: np.ndarray) -> tuple[str, np.ndarray]:
        """(most likely label, class probabilities) for one utterance."""
        p = self.probabilities(f0)
        return self.label_names[int(np.argmax(p))], p

    def logits_batch(self, f0: np.ndarray) -> np.ndarray:
        """Logits (N, n_classes) for N utterances (N, T, C), each run from a reset state."""
        return np.stack([self.logits(x) for x in np.asarray(f0)]) if len(f0) else \
            np.zeros((0, self.n_classes), np.float32)
