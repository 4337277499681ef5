"""The networks: a speech teacher (ResNet18 or CRNN on log-Mel) and the EGG student (BiLSTM on F0).

Every model maps a batch to `(logits, feature)`: the logits feed cross-entropy, the feature is
the 512-d "deep emotion feature" that cross-modal emotion distillation (CMED) aligns between
teacher and student (see `loss.py`).

Inputs:
- teachers take log-Mel spectrograms, (B, n_mels, T) or (B, 1, n_mels, T);
- the student takes the F0 channels of `FeatureSet.f0`, (B, T, 2).

`build_model(arch, **model_config)` rebuilds any of them from the kwargs stored in a checkpoint.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["ResNet18", "CRNN", "BiLSTMStudent", "CNNStudent", "build_model", "ARCHS", "TEACHER_ARCHS",
           "STUDENT_ARCHS", "STUDENT_SIZES", "count_parameters", "input_name"]


# ---------------------------------------------------------------------------------------------
# ResNet18 (He et al. 2016), written out here because torchvision has no CPU build in this venv.

class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (a 1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class BandNorm(nn.Module):
    """Per-band standardisation of a log-Mel input with fixed statistics (set from the training
    set by the training loop, stored in the checkpoint as buffers)."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:       # (B, 1, n_mels, T)
        return (x - self.mean[:, None]) / self.std[:, None]


def _input_norm(n_mels: int) -> nn.Module:
    return BandNorm(n_mels) if n_mels > 0 else nn.Identity()


class ResNet18(nn.Module):
    """ResNet18 on a 1-channel log-Mel image; global average pooling gives the 8*width-d feature.

    With the default width=64 the feature is 512-d and the network has about 11.2M parameters.
    A smaller width is only for tests and quick demos. n_mels > 0 standardises every band first
    (BandNorm); dropout acts on the feature before the classifier.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 7, width: int = 64, n_mels: int = 0,
                 dropout: float = 0.0, band_moments: bool = False, moment_head: bool = False,
                 moment_stats: str = "meansd") -> None:
        super().__init__()
        if moment_stats not in HEAD_STATS:
            raise ValueError(f"moment_stats must be one of {', '.join(HEAD_STATS)}, not {moment_stats!r}")
        if band_moments and n_mels <= 0:
            raise ValueError("band_moments needs n_mels (the per-band statistics are taken after BandNorm)")
        if moment_head and not band_moments:
            raise ValueError("moment_head needs band_moments (it is a linear head on the band statistics)")
        self.input_norm = _input_norm(n_mels)
        self.dropout = nn.Dropout(dropout)
        self.band_moments = band_moments
        w = width
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, c_in = [], w
        for i, c_out in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.feature_dim = 8 * w + (2 * n_mels if band_moments else 0)
        self.classifier = nn.Linear(self.feature_dim, n_classes)
        self.moment_head = moment_head
        self.moment_stats = moment_stats
        if moment_head:
            # late fusion with the band-statistics floor's own model: a logistic regression on the
            # standardised band statistics, fitted on the training part after the network has
            # trained (fit_moment_head, train/loop.py) and frozen; from then on its logits add to
            # the network's (a product of the two experts' class probabilities). Until it is
            # fitted (moment_fitted = 0) the network trains and predicts exactly as without it.
            # moment_stats="functionals" gives the regression each band's temporal functionals
            # (band_functionals) instead of its mean and sd only.
            d = HEAD_STATS[moment_stats] * n_mels
            self.register_buffer("moment_fitted", torch.zeros(()))
            self.register_buffer("moment_mean", torch.zeros(d))
            self.register_buffer("moment_std", torch.ones(d))
            self.moment_classifier = nn.Linear(d, n_classes)
            self.moment_classifier.requires_grad_(False)

    @torch.no_grad()
    def fit_moment_head(self, logmel: np.ndarray, labels: np.ndarray, C: float = 1.0, batch: int = 256) -> None:
        """Fit the regression: the band statistics of the training utterances (after input_norm,
        whose statistics must be set first) standardised, then a multinomial logistic regression
        with the band-statistics floor's settings (train/baselines.py), copied in; from now on the
        model's logits include it."""
        from sklearn.linear_model import LogisticRegression
        if not self.moment_head:
            raise ValueError("this ResNet18 has no moment head (moment_head=False)")
        x = torch.as_tensor(np.asarray(logmel, np.float32)).to(self.moment_mean.device)
        m = torch.cat([self._head_stats(x[i:i + batch, None], self.input_norm(x[i:i + batch, None]), None)
                       for i in range(0, len(x), batch)]).double()
        mean, std = m.mean(dim=0), m.std(dim=0, unbiased=False).clamp(min=1e-6)   # as StandardScaler
        y = np.asarray(labels)
        lr = LogisticRegression(C=C, max_iter=3000).fit(((m - mean) / std).cpu().numpy(), y)
        n_classes = self.moment_classifier.out_features
        if len(lr.classes_) != n_classes:
            raise ValueError(f"the training part has {len(lr.classes_)} of the {n_classes} classes; the moment head "
                             f"needs every class in it")
        self.moment_mean.copy_(mean.float())
        self.moment_std.copy_(std.float())
        self.moment_classifier.weight.copy_(torch.as_tensor(lr.coef_, dtype=torch.float32))
        self.moment_classifier.bias.copy_(torch.as_tensor(lr.intercept_, dtype=torch.float32))
        self.moment_fitted.fill_(1.0)

    def _head_stats(self, raw: torch.Tensor, z: torch.Tensor, moments: torch.Tensor | None) -> torch.Tensor:
        if moments is None:
            moments = band_moments(raw, z)
        return band_functionals(raw, z, moments) if self.moment_stats == "functionals" else moments

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        z = self.input_norm(x)
        feature = self.stages(self.stem(z)).mean(dim=(2, 3))
        moments = band_moments(x, z) if self.band_moments else None
        if moments is not None:
            feature = torch.cat([feature, moments], dim=1)
        logits = self.classifier(self.dropout(feature))
        if self.moment_head and bool(self.moment_fitted):
            stats = self._head_stats(x, z, moments)
            logits = logits + self.moment_classifier((stats - self.moment_mean) / self.moment_std)
        return logits, feature


PAD_LOG = -23.0   # log-Mel padding is ln(1e-10) = -23.03 (features.FeatureConfig.log_floor)


def band_moments(raw: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(B, 2 * n_mels): the mean and standard deviation of every (standardised) band over the
    frames that are not padding: the statistics the band-statistics regression reads, as a
    skip path beside the convolutional feature."""
    keep = (raw.amax(dim=2, keepdim=True) > PAD_LOG).to(z.dtype)          # (B, 1, 1, T)
    n = keep.sum(dim=3).clamp(min=1.0)                                     # (B, 1, 1)
    mean = (z * keep).sum(dim=3) / n                                       # (B, 1, n_mels)
    var = (((z - mean[..., None]) ** 2) * keep).sum(dim=3) / n
    return torch.cat([mean, var.clamp(min=1e-6).sqrt()], dim=2).flatten(1)


HEAD_STATS = {"meansd": 2, "functionals": 6}    # the moment head's statistics per band


def band_functionals(raw: torch.Tensor, z: torch.Tensor, moments: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 6 * n_mels): per (standardised) band over the frames that are not padding its mean and
    sd (band_moments; pass them as `moments` where already computed), the mean absolute and the sd
    of its frame-to-frame change (between two kept frames), and its 10th and 90th percentiles
    (linear interpolation, as numpy's)."""
    keep = raw.amax(dim=2, keepdim=True) > PAD_LOG                         # (B, 1, 1, T)
    mom = (band_moments(raw, z) if moments is None else moments).view(z.shape[0], 2, -1)
    kd = (keep[..., 1:] & keep[..., :-1]).to(z.dtype)
    nd = kd.sum(dim=3).clamp(min=1.0)
    d = z[..., 1:] - z[..., :-1]
    dabs = (d.abs() * kd).sum(dim=3) / nd                                  # (B, 1, n_mels)
    dmean = (d * kd).sum(dim=3) / nd
    dsd = ((((d - dmean[..., None]) ** 2) * kd).sum(dim=3) / nd).clamp(min=1e-6).sqrt()
    masked = torch.where(keep, z, torch.full_like(z, float("nan")))
    q = torch.nanquantile(masked, torch.tensor([0.1, 0.9], dtype=z.dtype, device=z.device), dim=3)
    q = torch.nan_to_num(q)                                                # (2, B, 1, n_mels)
    return torch.cat([mom, dabs, dsd, q[0], q[1]], dim=1).flatten(1)


# ---------------------------------------------------------------------------------------------
# CRNN baseline (the paper's Table 2 compares it with ResNet18 as the teacher).

class CRNN(nn.Module):
    """Three conv blocks (3x3 conv, BN, ReLU, 2x2 max-pool), the frequency axis pooled to
    `freq_bins`, then a bidirectional GRU over time; the time-mean of its outputs is the
    2*rnn_hidden-d feature (512-d by default)."""

    def __init__(self, in_channels: int = 1, n_classes: int = 7, width: int = 32,
                 rnn_hidden: int = 256, freq_bins: int = 4, n_mels: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.input_norm = _input_norm(n_mels)
        self.dropout = nn.Dropout(dropout)
        blocks, c_in = [], in_channels
        for c_out in (width, 2 * width, 4 * width):
            blocks += [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = c_out
        self.conv = nn.Sequential(*blocks)
        self.freq_pool = nn.AdaptiveAvgPool2d((freq_bins, None))
        self.rnn = nn.GRU(c_in * freq_bins, rnn_hidden, batch_first=True, bidirectional=True)
        self.feature_dim = 2 * rnn_hidden
        self.classifier = nn.Linear(self.feature_dim, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        y = self.freq_pool(self.conv(self.input_norm(x)))   # (B, C, F, T')
        y = y.flatten(1, 2).transpose(1, 2)                 # (B, T', C*F)
        feature = self.rnn(y)[0].mean(dim=1)
        return self.classifier(self.dropout(feature)), feature


# ---------------------------------------------------------------------------------------------
# The EGG student (docs/training.md, "Models"). Separate forward and backward LSTMs per
# layer, because TFLite Micro has no REVERSE_V2: the export rebuilds each direction as its own
# UNIDIRECTIONAL_SEQUENCE_LSTM over a time-reversed copy of the input.

def flip_time(x: torch.Tensor) -> torch.Tensor:
    return torch.flip(x, dims=[1])


def stack_frames(x: torch.Tensor, stack: int) -> torch.Tensor:
    """(B, T, C) -> (B, T / stack, stack * C): each step holds `stack` consecutive frames, oldest first."""
    if stack == 1:
        return x
    B, T, C = x.shape
    if T % stack:
        raise ValueError(f"the student stacks {stack} frames per LSTM step, so T must be a multiple of "
                         f"{stack}; got T = {T}. Make the features with such a T (FeatureConfig) or "
                         f"build the student with another stack")
    return x.reshape(B, T // stack, stack * C)


class BiLSTMStudent(nn.Module):
    """`layers` bidirectional LSTM layers of `hidden` units per direction on (B, T, in_channels).

    The utterance vector is the last step of the forward direction next to the first step of the
    backward one (each has then seen the whole utterance). The classifier reads it directly; the
    projection to `feature_dim` exists only for distillation (Identity when 2*hidden equals it).

    `stack` > 1 puts that many consecutive frames side by side before the first LSTM: the input
    (B, T, C) is read as (B, T / stack, stack * C), so every LSTM runs T / stack steps. On the MCU
    this divides every sequence buffer (and the LSTM time) by `stack`; docs/export.md has the
    measured arena. T must be a multiple of `stack`.
    """

    def __init__(self, in_channels: int = 2, hidden: int = 64, layers: int = 2, n_classes: int = 7,
                 feature_dim: int = 512, stack: int = 1, pooling: str = "last", dropout: float = 0.0) -> None:
        super().__init__()
        if not (isinstance(stack, int) and stack >= 1):
            raise ValueError(f"stack must be an integer >= 1 (frames per LSTM step), got {stack!r}")
        if pooling not in LSTM_POOLINGS:
            raise ValueError(f"BiLSTM pooling must be one of {LSTM_POOLINGS}, got {pooling!r}")
        self.stack = stack
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        if pooling == "attention":
            self.attention = nn.Linear(2 * hidden, 1)
        sizes = [stack * in_channels] + [2 * hidden] * (layers - 1)
        self.fwd = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.bwd = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.classifier = nn.Linear(2 * hidden, n_classes)
        self.project: nn.Module = (nn.Linear(2 * hidden, feature_dim) if 2 * hidden != feature_dim
                                   else nn.Identity())
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = stack_frames(x, self.stack)
        for fwd, bwd in zip(self.fwd, self.bwd):
            f = fwd(h)[0]
            b = flip_time(bwd(flip_time(h))[0])
            h = torch.cat([f, b], dim=-1)
        if self.pooling == "last":
            pooled = torch.cat([f[:, -1], b[:, 0]], dim=-1)
        elif self.pooling == "mean":
            pooled = h.mean(dim=1)
        else:
            w = torch.softmax(self.attention(h), dim=1)            # (B, T', 1)
            pooled = (w * h).sum(dim=1)
        pooled = self.dropout(pooled)
        return self.classifier(pooled), self.project(pooled)


LSTM_POOLINGS = ("last", "mean", "attention")
CNN_POOLINGS = ("mean", "max", "meanmax", "stats", "attention")


class CNNStudent(nn.Module):
    """A 1-D convolutional student on (B, T, in_channels): `layers` blocks of
    conv(kernel) -> BatchNorm -> ReLU over time, `width` channels, stride 2 in the blocks listed
    in `strides_at` (each halves the frame rate), then pooling over time and a linear classifier.

    Pooling "meanmax" (default) puts the time mean and the time maximum of the last block side
    by side (2 * width): both are plain int8 reductions (MEAN, REDUCE_MAX) on a Cortex-M4.
    "stats" (mean and standard deviation) and "attention" are measured for the ablation; the
    export takes "mean", "max" and "meanmax". BatchNorm folds into the convolution for export.
    """

    def __init__(self, in_channels: int = 6, width: int = 64, layers: int = 4, kernel: int = 5,
                 n_classes: int = 7, feature_dim: int = 512, pooling: str = "meanmax",
                 strides_at: tuple[int, ...] | list[int] = (1, 2), dropout: float = 0.0,
                 input_moments: bool = False, head: int = 0, pyramid: int = 0) -> None:
        super().__init__()
        self.input_moments = input_moments
        self.pyramid = pyramid
        if pooling not in CNN_POOLINGS:
            raise ValueError(f"CNN pooling must be one of {CNN_POOLINGS}, got {pooling!r}")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 1, got {kernel}")
        self.pooling = pooling
        self.strides_at = tuple(int(i) for i in strides_at)
        blocks, c_in = [], in_channels
        for i in range(layers):
            stride = 2 if i in self.strides_at else 1
            blocks += [nn.Conv1d(c_in, width, kernel, stride, kernel // 2, bias=False), nn.BatchNorm1d(width),
                       nn.ReLU(inplace=True)]
            c_in = width
        self.blocks = nn.Sequential(*blocks)
        pooled_dim = width if pooling in ("mean", "max", "attention") else 2 * width
        if pooling == "attention":
            self.attention = nn.Conv1d(width, 1, 1)
        if input_moments:
            pooled_dim += 3 * in_channels
        if pyramid > 1:
            pooled_dim += pyramid * width
        self.head: nn.Module = nn.Identity()
        if head > 0:
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(pooled_dim, head), nn.ReLU(inplace=True))
            pooled_dim = head
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(pooled_dim, n_classes)
        self.project: nn.Module = (nn.Linear(pooled_dim, feature_dim) if pooled_dim != feature_dim
                                   else nn.Identity())
        self.feature_dim = feature_dim

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        """(B, width, T') conv features -> (B, pooled) by the configured pooling over time."""
        if self.pooling == "mean":
            return h.mean(dim=2)
        if self.pooling == "max":
            return h.amax(dim=2)
        if self.pooling == "meanmax":
            return torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        if self.pooling == "stats":
            return torch.cat([h.mean(dim=2), h.std(dim=2)], dim=1)
        w = torch.softmax(self.attention(h), dim=2)            # (B, 1, T')
        return (w * h).sum(dim=2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> the utterance vector: pooled conv features, with input_moments also the
        time means of every input channel and of its square (moments a regression on utterance
        statistics reads, and its product with a -1..1 ramp over the frames, i.e. its trend; plain MEAN
        and MUL ops in int8), then the optional hidden layer."""
        h = self.blocks(x.transpose(1, 2))
        parts = [self.pool(h)]
        if self.pyramid > 1:
            # the time means of `pyramid` equal stretches (start-aligned utterances: beginning,
            # middle, end), the position a global pooling cannot see
            B, W, Tp = h.shape
            if Tp % self.pyramid:
                raise ValueError(f"pyramid pooling needs the {Tp} pooled frames to split into {self.pyramid} "
                                 f"equal parts; change T, strides_at or pyramid")
            parts.append(h.reshape(B, W, self.pyramid, Tp // self.pyramid).mean(dim=3).flatten(1))
        if self.input_moments:
            ramp = torch.linspace(-1.0, 1.0, x.shape[1], device=x.device)[None, :, None]
            parts += [x.mean(dim=1), (x * x).mean(dim=1), (x * ramp).mean(dim=1)]
        return self.head(torch.cat(parts, dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(self.embed(x))
        return self.classifier(pooled), self.project(pooled)


# ---------------------------------------------------------------------------------------------

ARCHS: dict[str, type[nn.Module]] = {"resnet18": ResNet18, "crnn": CRNN, "bilstm_student": BiLSTMStudent,
                                     "cnn_student": CNNStudent}
TEACHER_ARCHS = ("resnet18", "crnn")
STUDENT_ARCHS = ("bilstm_student", "cnn_student")
# Named student sizes: the paper's 4-layer x 256 BiLSTM and the Cortex-M4 edge student, 2 x 48
# reading 3 frames per LSTM step: the smallest TFLM arena of the candidates measured in
# docs/export.md (27.8 KB of the 48 KiB the firmware leaves; the unstacked 2 x 64 needed 85-104 KB).
STUDENT_SIZES: dict[str, dict[str, int]] = {"paper": {"layers": 4, "hidden": 256, "stack": 1},
                                            "edge": {"layers": 2, "hidden": 48, "stack": 3}}


def build_model(arch: str, **model_config) -> nn.Module:
    """Build `arch` ("resnet18", "crnn" or "bilstm_student") from the kwargs of its constructor."""
    if arch not in ARCHS:
        raise ValueError(f"unknown model arch {arch!r}; choose one of {sorted(ARCHS)}")
    try:
        return ARCHS[arch](**model_config)
    except TypeError as exc:
        raise ValueError(f"bad model_config for {arch}: {exc}. "
                         f"Valid keys are the arguments of {ARCHS[arch].__name__}.__init__") from None


def input_name(arch: str) -> str:
    """Which FeatureSet array the arch reads: "logmel" (teachers) or "f0" (the student)."""
    if arch in TEACHER_ARCHS:
        return "logmel"
    if arch in STUDENT_ARCHS:
        return "f0"
    raise ValueError(f"unknown model arch {arch!r}; choose one of {sorted(ARCHS)}")


def count_parameters(model: nn.Module, deployed_only: bool = False) -> int:
    """Trainable parameters; with deployed_only, leave out the student's distillation projection
    (it is not exported)."""
    skip = set()
    if deployed_only and isinstance(model, (BiLSTMStudent, CNNStudent)):
        skip = {id(p) for p in model.project.parameters()}
    return sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in skip)
