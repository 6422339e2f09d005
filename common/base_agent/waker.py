"""A self-pipe: another thread, or a signal handler, wakes the agent's loop out of its poll."""

from __future__ import annotations

import os

__all__ = ["Waker"]


class Waker:
    def __init__(self) -> None:
        self.read_fd = self._write_fd = -1

    def open(self) -> int:
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)
        return self.read_fd

    def wake(self) -> None:
        """Safe from any thread and from signal handlers; never raises."""
        try:
            os.write(self._write_fd, b"!")
        except OSError:
            pass  # not open, closed, or already full: the loop wakes anyway

    def drain(self) -> None:
        try:
            os.read(self.read_fd, 4096)
        except OSError:
            pass

    def close(self) -> None:
        for fd in (self.read_fd, self._write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self._write_fd = -1
