"""How a teacher's classes meet the student's: a class map.

A speech teacher trained on one corpus (say RAVDESS: neutral, calm, happy, ...) can teach an EGG
student whose corpus names its classes otherwise (EMO-DB's anger, boredom, ...). The class map is a
small TOML file, one line per teacher class:

    # teacher class = student class ("" or left out: dropped)
    neutral = "neutral"
    calm = "neutral"          # many-to-one
    happy = "happiness"
    surprised = ""

The teacher's probabilities are summed over the classes that map to each student class; the
dropped classes' share is taken out and the rest renormalised. A student class no teacher class
maps to gets no target (its logit is -inf: the distillation term leaves it out, loss._kl_rows).
A map that reaches fewer than two student classes teaches nothing and is refused.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


class ClassMapError(ValueError):
    """A class map that cannot join these two label sets; the message says what to change."""


@dataclass(frozen=True)
class ClassMap:
    teacher: tuple[str, ...]          # the teacher's label names, in its order
    student: tuple[str, ...]          # the student's
    target: tuple[int, ...]           # per teacher class: the student class index, or -1 (dropped)

    @property
    def matrix(self) -> np.ndarray:
        """(len(teacher), len(student)) 0/1: teacher class i adds to student class j."""
        m = np.zeros((len(self.teacher), len(self.student)))
        for i, j in enumerate(self.target):
            if j >= 0:
                m[i, j] = 1.0
        return m

    @property
    def covered(self) -> tuple[str, ...]:
        """The student classes that get a target."""
        return tuple(self.student[j] for j in sorted({j for j in self.target if j >= 0}))

    def describe(self) -> str:
        parts = []
        for j, name in enumerate(self.student):
            src = [self.teacher[i] for i, t in enumerate(self.target) if t == j]
            parts.append(f"{name} <- {'+'.join(src) if src else '(none)'}")
        dropped = [self.teacher[i] for i, t in enumerate(self.target) if t < 0]
        return "; ".join(parts) + (f"; dropped: {', '.join(dropped)}" if dropped else "")

    def map_log_probs(self, teacher_logits: np.ndarray) -> np.ndarray:
        """(N, len(student)) log-probabilities over the student's classes from the teacher's (N,
        len(teacher)) logits: summed per student class over the teacher classes mapped to it, the
        dropped classes taken out and the rest renormalised; -inf where no teacher class maps."""
        z = np.asarray(teacher_logits, np.float64)
        if z.ndim != 2 or z.shape[1] != len(self.teacher):
            raise ClassMapError(f"teacher outputs have shape {z.shape}; the class map is for "
                                f"{len(self.teacher)} teacher classes {list(self.teacher)}")
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        q = p @ self.matrix
        q /= np.maximum(q.sum(axis=1, keepdims=True), 1e-12)
        with np.errstate(divide="ignore"):
            out = np.log(np.maximum(q, 1e-12))
        out[:, [j for j in range(len(self.student)) if j not in set(self.target)]] = -np.inf
        return out.astype(np.float32)


def identity(labels: Sequence[str]) -> ClassMap:
    labels = tuple(labels)
    return ClassMap(labels, labels, tuple(range(len(labels))))


def parse(pairs: dict[str, str], teacher: Sequence[str], student: Sequence[str], source: str) -> ClassMap:
    """A ClassMap from teacher-class -> student-class pairs; teacher classes left out are dropped."""
    teacher, student = tuple(teacher), tuple(student)
    unknown = sorted(set(pairs) - set(teacher))
    if unknown:
        raise ClassMapError(f"{source}: {', '.join(repr(u) for u in unknown)} is no class of the teacher; its "
                            f"classes are {list(teacher)}")
    bad = sorted({v for v in pairs.values() if v and v not in student})
    if bad:
        raise ClassMapError(f"{source}: {', '.join(repr(b) for b in bad)} is no class of the student; its classes "
                            f"are {list(student)} (write \"\" to drop a teacher class)")
    target = tuple(student.index(pairs[t]) if pairs.get(t) else -1 for t in teacher)
    cm = ClassMap(teacher, student, target)
    if len(cm.covered) < 2:
        raise ClassMapError(f"{source}: the teacher's classes {list(teacher)} reach "
                            f"{len(cm.covered)} of the student's classes {list(student)} "
                            f"({', '.join(cm.covered) or 'none'}); a teacher teaches only where it tells at least "
                            f"two student classes apart: map more of its classes")
    return cm


def load(path: str | Path, teacher: Sequence[str], student: Sequence[str]) -> ClassMap:
    """The class map in the TOML file at `path` (see the module docstring)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClassMapError(f"{path}: cannot read the class map ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ClassMapError(f"{path}: not a TOML class map ({exc}); write one line per teacher class, "
                            f"e.g. happy = \"happiness\"") from None
    if not all(isinstance(v, str) for v in raw.values()):
        bad = [k for k, v in raw.items() if not isinstance(v, str)]
        raise ClassMapError(f"{path}: {', '.join(bad)}: each teacher class maps to one student class name in "
                            f"quotes (\"\" to drop it)")
    return parse({k.strip().lower(): v.strip().lower() for k, v in raw.items()}, teacher, student, str(path))


def resolve(path: str | Path | None, teacher: Sequence[str], student: Sequence[str]) -> ClassMap:
    """The map for a teacher: the file at `path`, or, without one, the identity when both label
    sets are the same; a clear error when they differ and no map was given."""
    if path:
        return load(path, teacher, student)
    if tuple(teacher) == tuple(student):
        return identity(student)
    raise ClassMapError(f"the teacher was trained on the classes {list(teacher)}, the student's corpus has "
                        f"{list(student)}; say how they meet with --class-map FILE (TOML, one line per teacher "
                        f"class: teacher_class = \"student_class\"; see docs/distill.md)")
