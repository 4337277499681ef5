"""Output paths, checked before the work that fills them.

A command that writes a folder or a file calls `check_out_dir` or `check_out_file` first, so
that a path that is a file (or a folder), lies under a file, or cannot be written gives a
one-line message naming the path and what to do, before minutes of work and without a
traceback. Nothing is created by the checks except, on request, a file's missing parent folders.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputPathError(ValueError):
    """An output path that cannot be written; the message names it and says what to do."""


def _nearest_existing(path: Path) -> Path:
    """path itself, or its closest ancestor that exists."""
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def _probe_writable(folder: Path, option: str, path: Path) -> None:
    """Create (and at once drop) an unnamed file in folder: the real test of permissions and
    read-only filesystems, which os.access does not see for root."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputPathError(f"{option} {path}: cannot write into {folder} ({exc.strerror or exc}); "
                              f"choose a folder you can write to") from None


def check_out_dir(path: str | Path, option: str) -> Path:
    """A folder the command will create or fill: refuse a file, a path under a file, or a
    place that cannot be written. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{option} {path}: is a file, not a folder; give a folder (it is created), "
                              f"or move the file away")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise OutputPathError(f"{option} {path}: {base} is a file, so no folder can be made there; "
                              f"choose another path")
    _probe_writable(base, option, path)
    return path


def check_out_file(path: str | Path, option: str, *, make_parent: bool = False) -> Path:
    """A file the command will write: refuse a folder, a path under a file, or a place that
    cannot be written. With make_parent, missing parent folders are created."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{option} {path}: is a folder, not a file; give a file path")
    parent = path.parent
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise OutputPathError(f"{option} {path}: {base} is a file, not a folder; choose another path")
    if base != parent and not make_parent:
        raise OutputPathError(f"{option} {path}: the folder {parent} does not exist; create it first")
    _probe_writable(base, option, path)
    if base != parent:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(f"{option} {path}: cannot create the folder {parent} "
                                  f"({exc.strerror or exc}); choose another path") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{option} {path}: the file is read-only; choose another path or make it writable")
    return path
