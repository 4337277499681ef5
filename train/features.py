"""Features: 80-band (log-)Mel spectrograms for the teacher, normalised F0 for the student.

Entry point: `extract_features(items, config, cache_dir=...) -> FeatureSet`.

Frames. Both streams share one 10 ms grid: the F0 core's frames (frame i
centred at i * hop + frame_ms / 2, i.e. 20 ms, 30 ms, ... with the default
40 ms F0 window). The Mel frame i is centred at the same instant, so column i
of the log-Mel and row i of the F0 input describe the same 10 ms of the
utterance. An utterance of n samples gives L = the F0 core's frame count frames.

Mel. Hann window of `win_ms` (25 ms), FFT of `n_fft` points, power spectrum
scaled so that a full-scale sine has power 0.25 in its bin, `n_mels` triangular
filters on the Slaney mel scale with unit peak (librosa.filters.mel, norm=None)
between fmin and fmax. log-Mel = ln(max(mel, log_floor)).

F0. The F0 core (`eggemo.core.f0.f0_track`, the C code the firmware runs) on the EGG
(or on the speech under the documented `f0_source="speech"` proxy). Channel 0 of
the student input is the normalised log-F0:
    (ln f0 - mu) / sigma  on voiced frames, clipped to +-F0_CLIP,
    0                     on unvoiced frames (and padding),
and channel 1 is the voiced flag (1/0), so "unvoiced" is explicit and never
confused with "at the mean". mu and sigma are the mean and standard deviation
of ln f0 over the voiced frames of the normalisation group:
    "speaker"   all utterances of the same speaker in the set being extracted
                (default; keeps the emotion's F0 level and range relative to
                the speaker's habitual voice, removes male/female differences);
    "utterance" the utterance itself (removes level and range: only the shape,
                timing and voicing remain);
    "global"    all utterances (keeps speaker and sex differences).
sigma is floored at SIGMA_FLOOR. The statistics use no labels, so computing
them on test speakers is label-free (transductive speaker normalisation).

Fixed length T (default 300 = 3 s). Longer utterances are cropped: with
crop="center" (default) the middle T frames are kept, with "start" the first,
with "end" the last. Shorter ones are padded at the end: log-Mel with
ln(log_floor) (digital silence), F0 channels with 0 (unvoiced).

The student's input from the F0 frames (`F0Stats`, `normalise_f0`, `fit_length`,
`student_input`: emo_feat's NumPy twin) lives in eggemo.core.feat, beside its C
binding, so the board, the host and training build it the same way; librosa is
imported only inside `mel_filterbank`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from eggemo.core.feat import CROPS, F0_NORMS, PAPER_INPUTS, STUDENT_INPUTS, F0Stats, fit_length, student_input

from .featureset import UNLABELLED, FeatureSet

FEATURE_VERSION = 4        # bump when a change here or in the F0 core alters cached arrays (2: periodicity,
                           # energy; 3: cq, jitter, shimmer; 4: cycles of at least 0.7 periods)
@dataclass(frozen=True)
class FeatureConfig:
    fs: int = 16000              # every signal is resampled to this rate
    n_mels: int = 80
    win_ms: float = 25.0         # Mel analysis window
    hop_ms: float = 10.0         # frame hop, shared with the F0 core
    n_fft: int = 512
    fmin: float = 0.0
    fmax: float | None = None    # None: fs / 2
    log_floor: float = 1e-10     # log-Mel = ln(max(mel, log_floor))
    f0_fmin: float = 50.0        # F0 search range of the F0 core
    f0_fmax: float = 500.0
    f0_frame_ms: float = 40.0    # F0 core window; frame i is centred at i * hop + f0_frame_ms / 2
    T: int = 300                 # frames per example (3 s)
    crop: str = "center"         # center | start | end
    f0_norm: str = "speaker"     # speaker | utterance | global
    student_inputs: tuple[str, ...] = PAPER_INPUTS   # per-frame channels, see STUDENT_INPUTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "student_inputs", tuple(self.student_inputs))
        bad = [c for c in self.student_inputs if c not in STUDENT_INPUTS]
        if bad or not self.student_inputs or len(set(self.student_inputs)) != len(self.student_inputs):
            raise ValueError(f"student_inputs {list(self.student_inputs)}: give distinct channels from "
                             f"{list(STUDENT_INPUTS)}, e.g. [\"log_f0\", \"voiced\", \"energy\"]")
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")
        if self.f0_norm not in F0_NORMS:
            raise ValueError(f"f0_norm must be one of {F0_NORMS}, got {self.f0_norm!r}")
        if self.T < 1 or self.n_mels < 1:
            raise ValueError(f"T and n_mels must be positive, got T={self.T}, n_mels={self.n_mels}")
        if self.win_samples > self.n_fft:
            raise ValueError(f"win_ms={self.win_ms} gives {self.win_samples} samples > n_fft={self.n_fft}")

    @property
    def win_samples(self) -> int:
        return int(round(self.win_ms * self.fs / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_ms * self.fs / 1000))

    def f0_params(self):
        from eggemo.core.f0 import F0Params

        return F0Params(fmin=self.f0_fmin, fmax=self.f0_fmax, frame_ms=self.f0_frame_ms, hop_ms=self.hop_ms)

    def per_utterance(self) -> dict:
        """The fields that change the cached per-utterance arrays (not T, crop, f0_norm or the inputs)."""
        d = dataclasses.asdict(self)
        for k in ("T", "crop", "f0_norm", "student_inputs"):
            d.pop(k)
        return d


# ---------------------------------------------------------------- Mel -------

@lru_cache(maxsize=8)
def mel_filterbank(fs: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, Slaney mel scale, unit peak."""
    import librosa  # lazily: the host never needs it

    return librosa.filters.mel(sr=fs, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                               htk=False, norm=None).astype(np.float32)


def frame_centres(n_frames: int, config: FeatureConfig) -> np.ndarray:
    """Sample index of each frame centre: the F0 core's grid (i * hop + f0_frame_ms / 2)."""
    first = int(round(config.f0_frame_ms / 2 * config.fs / 1000))
    return first + np.arange(n_frames) * config.hop_samples


def mel_power(x: np.ndarray, config: FeatureConfig, n_frames: int | None = None) -> np.ndarray:
    """(n_mels, n_frames) Mel power of x, frames centred on the shared 10 ms grid.
    n_frames defaults to the frames whose centre lies inside x; windows reaching past
    either end of x see zeros there."""
    x = np.asarray(x, dtype=np.float32)
    if n_frames is None:
        first = frame_centres(1, config)[0]
        n_frames = max(0, (len(x) - 1 - first) // config.hop_samples + 1)
    win = config.win_samples
    centres = frame_centres(n_frames, config)
    starts = centres - win // 2
    left = max(0, -int(starts.min(initial=0)))
    right = max(0, int(starts.max(initial=0)) + win - len(x))
    xp = np.pad(x, (left, right))
    frames = np.lib.stride_tricks.sliding_window_view(xp, win)[starts + left]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)).astype(np.float32)  # periodic Hann
    spec = np.fft.rfft(frames * window, n=config.n_fft, axis=1)
    power = (np.abs(spec) / window.sum()) ** 2               # full-scale sine -> 0.25 in its bin
    fmax = config.fmax if config.fmax is not None else config.fs / 2
    fb = mel_filterbank(config.fs, config.n_fft, config.n_mels, float(config.fmin), float(fmax))
    return (fb @ power.T.astype(np.float32)).astype(np.float32)


def log_mel(x: np.ndarray, config: FeatureConfig, n_frames: int | None = None) -> np.ndarray:
    """(n_mels, n_frames) ln(max(Mel power, log_floor)), float32."""
    return np.log(np.maximum(mel_power(x, config, n_frames), config.log_floor)).astype(np.float32)


# ---------------------------------------------------------------- per utterance ---

@dataclass(frozen=True)
class UtteranceFeatures:
    """Variable-length features of one utterance, before normalisation and pad/crop."""
    logmel: np.ndarray   # (n_mels, L) float32
    f0_hz: np.ndarray    # (L,) float32, 0 where unvoiced
    voiced: np.ndarray   # (L,) bool
    periodicity: np.ndarray  # (L,) float32, the F0 core's normalised autocorrelation
    energy_db: np.ndarray    # (L,) float32, the F0 core's frame energy, dB re full scale
    cq: np.ndarray           # (L,) float32, the F0 core's contact quotient (0 unvoiced)
    jitter: np.ndarray       # (L,) float32
    shimmer: np.ndarray      # (L,) float32

    def record_columns(self) -> dict:
        """The per-frame columns student_input() reads besides f0 and voicing."""
        return {"periodicity": self.periodicity, "energy_db": self.energy_db, "cq": self.cq,
                "jitter": self.jitter, "shimmer": self.shimmer}


CACHED = ("logmel", "f0_hz", "voiced", "periodicity", "energy_db", "cq", "jitter", "shimmer")


def compute_utterance(speech: np.ndarray, f0_signal: np.ndarray, config: FeatureConfig) -> UtteranceFeatures:
    """log-Mel of the speech and F0 (via the F0 core) of f0_signal, both at config.fs, on one grid."""
    from eggemo.core.f0 import f0_track

    track = f0_track(np.asarray(f0_signal, dtype=np.float32), config.fs, config.f0_params())
    lm = log_mel(speech, config, n_frames=len(track))
    f0 = np.where(track.voiced, track.f0, 0.0).astype(np.float32)
    f32 = np.float32
    return UtteranceFeatures(lm, f0, track.voiced.astype(bool), track.periodicity.astype(f32),
                             track.energy_db.astype(f32), track.cq.astype(f32), track.jitter.astype(f32),
                             track.shimmer.astype(f32))


def _utterance_key(item, config: FeatureConfig, noise) -> str:
    from .cache import cache_key, file_digest
    from .noise import noise_identity

    files = {"speech": file_digest(item.speech_path)}
    if item.f0_source == "egg" and item.egg_path:
        files["egg"] = file_digest(item.egg_path)
    nid = noise_identity(noise)
    return cache_key("utterance", FEATURE_VERSION, config.per_utterance(), files, item.speech_channel,
                     item.f0_source, item.egg_channel if item.f0_source == "egg" else None,
                     nid, item.utt_id if nid else None)


def utterance_features(item, config: FeatureConfig, *, cache=None, noise=None) -> UtteranceFeatures:
    """Features of one corpus Item, read from the cache when present. noise: a NoiseConfig applied to
    the speech channel only (the F0 signal gets it too only under the speech-F0 proxy)."""
    from .data import read_item
    from .noise import add_noise

    key = _utterance_key(item, config, noise) if cache is not None else None
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return UtteranceFeatures(**{k: (hit[k].astype(bool) if k == "voiced" else hit[k]) for k in CACHED})
    speech, f0_signal = read_item(item, config.fs)
    if noise is not None:
        noisy = add_noise(speech, config.fs, noise, item.utt_id)
        f0_signal = noisy if item.f0_source == "speech" else f0_signal
        speech = noisy
    feats = compute_utterance(speech, f0_signal, config)
    if cache is not None:
        cache.put(key, {k: getattr(feats, k) for k in CACHED})
    return feats


def norm_stats(feats: Sequence[UtteranceFeatures], speakers: Sequence[str], mode: str) -> list[F0Stats]:
    """The F0Stats each utterance is normalised with, under f0_norm `mode`."""
    if mode == "utterance":
        return [F0Stats.from_frames(f.f0_hz, f.voiced, f.energy_db) for f in feats]
    if mode == "global":
        s = F0Stats.from_frames([f.f0_hz for f in feats], [f.voiced for f in feats], [f.energy_db for f in feats])
        return [s] * len(feats)
    if mode != "speaker":
        raise ValueError(f"f0_norm must be one of {F0_NORMS}, got {mode!r}")
    by_spk: dict[str, F0Stats] = {}
    spk = np.asarray(speakers).astype(str)
    for s in set(spk.tolist()):
        idx = np.flatnonzero(spk == s)
        by_spk[s] = F0Stats.from_frames([feats[i].f0_hz for i in idx], [feats[i].voiced for i in idx],
                                        [feats[i].energy_db for i in idx])
    return [by_spk[s] for s in spk]


def assemble(feats: Sequence[UtteranceFeatures], labels: Sequence[str], speakers: Sequence[str],
             utt_ids: Sequence[str], label_names: Sequence[str], config: FeatureConfig,
             extra_settings: dict | None = None) -> FeatureSet:
    """Normalise F0, pad/crop to config.T and stack into a FeatureSet holding every student channel
    (STUDENT_INPUTS; a student picks config.student_inputs with FeatureSet.select). Its
    feature_config records config and `extra_settings` (e.g. f0_source)."""
    label_names = tuple(label_names)
    lookup = {n: i for i, n in enumerate(label_names)}
    lookup[""] = UNLABELLED                # data.UNLABELLED: nobody labelled it
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        raise ValueError(f"labels {unknown} are not in label_names {label_names}")
    stats = norm_stats(feats, speakers, config.f0_norm)
    n, T = len(feats), config.T
    logmel = np.empty((n, config.n_mels, T), dtype=np.float32)
    f0 = np.empty((n, T, len(STUDENT_INPUTS)), dtype=np.float32)
    pad = float(np.log(config.log_floor))
    for i, (f, s) in enumerate(zip(feats, stats)):
        logmel[i] = fit_length(f.logmel, T, config.crop, pad, axis=1)
        f0[i] = student_input(f.f0_hz, f.voiced, s, T, config.crop, STUDENT_INPUTS, **f.record_columns())
    settings = dataclasses.asdict(config)
    settings["student_inputs"] = list(STUDENT_INPUTS)
    settings.update(extra_settings or {})
    return FeatureSet(logmel, f0, np.array([lookup[l] for l in labels], dtype=np.int64), label_names,
                      np.asarray(speakers).astype(str), np.asarray(utt_ids).astype(str),
                      f0_channels=STUDENT_INPUTS, feature_config=settings)


def _one_blas_thread():
    """The Mel matrix product is small (80 x 257 x L): a multi-threaded BLAS only adds spinning
    threads, which on a busy 2-core machine made it 200x slower (measured: 31 ms vs 0.15 ms)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # no control: run as is
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def extract_features(items: Iterable, config: FeatureConfig = FeatureConfig(), *, cache_dir=None,
                     label_names: Sequence[str] | None = None, noise=None, skip_bad: bool = False,
                     skipped: list | None = None, progress: bool = False) -> FeatureSet:
    """FeatureSet of corpus items (from eggemo.train.data.load_corpus), with every student channel
    (STUDENT_INPUTS) whatever config.student_inputs says: select the student's with FeatureSet.select.

    cache_dir: folder of the on-disk cache (None: no cache). label_names: the label order
    (default: EMO-DB's or CDESD's order when the labels fit, else sorted). noise: a
    NoiseConfig for the speech channel. skip_bad: leave out unreadable items, warn, and
    append a data.Skipped to `skipped`, instead of raising.
    """
    from .audio import AudioError
    from .cache import FeatureCache
    from .data import CorpusError, Skipped, _fail_or_skip, label_names_for

    items = list(items)
    if not items:
        raise CorpusError("no items to extract features from; is the corpus empty?")
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    iterator = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="features", unit="utt")
    kept, feats = [], []
    with _one_blas_thread():
        for item in iterator:
            try:
                feats.append(utterance_features(item, config, cache=cache, noise=noise))
                kept.append(item)
            except (AudioError, ValueError, OSError) as exc:  # CorpusError and AudioError are ValueErrors
                _fail_or_skip(f"{item.utt_id} ({item.speech_path})", str(exc), skip_bad, skipped)
    if not kept:
        raise CorpusError(f"all {len(items)} items failed; see the warnings")
    names = tuple(label_names) if label_names is not None else label_names_for(kept)
    sources = sorted({str(getattr(it, "f0_source", "egg")) for it in kept})
    return assemble(feats, [it.label for it in kept], [it.speaker for it in kept],
                    [it.utt_id for it in kept], names, config,
                    {"f0_source": sources[0] if len(sources) == 1 else sources})
