"""A raw pty pair for the tests: a fake board writes the master, the monitor opens the slave by its name."""
from __future__ import annotations

import os
import tty


class Pty:
    """A raw pty pair: the board writes the master, the monitor opens the slave by its name."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)

    def close(self) -> None:
        os.close(self.slave)
        os.close(self.master)
