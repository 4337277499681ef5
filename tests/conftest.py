"""Fixtures shared by every test folder."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# Root ignores file permissions; without these capabilities it is held to them, as a user is.
_AS_A_USER = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.fixture
def read_only_dir(tmp_path) -> Path:
    """An existing folder nobody may write into (mode 0555)."""
    d = tmp_path / "read_only"
    d.mkdir()
    d.chmod(0o555)
    yield d
    d.chmod(0o755)


@pytest.fixture
def eggemo_as_user() -> Callable[..., subprocess.CompletedProcess]:
    """Run `eggemo ARGS...` in a subprocess that file permissions apply to: as root, without the
    capabilities that let root write into a read-only folder (util-linux setpriv)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a read-only folder cannot be made read-only for root")
        prefix = _AS_A_USER

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", "eggemo.cli", *map(str, argv)],
                              capture_output=True, text=True, timeout=600)
    return run
