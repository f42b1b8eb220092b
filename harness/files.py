"""Reading the files a user hands the harness (scenarios, runbooks, journals) as the hostile
input they may be: a regular file, not too big, UTF-8 — or a clear reason why not, never a hang
(a FIFO) or a traceback (bytes that are not text)."""

from __future__ import annotations

import stat
from pathlib import Path

__all__ = ["MAX_BYTES", "UnreadableFile", "read_text"]

#: a scenario or runbook is a few kilobytes; this is far past any real one
MAX_BYTES = 1 << 20


class UnreadableFile(ValueError):
    """Why a file cannot be read as text (the message is for the user)."""


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The file's text.

    Raises:
        UnreadableFile: it is not a regular file, is larger than ``max_bytes``, cannot be read,
            or is not UTF-8.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise UnreadableFile(f"cannot read the file: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("not a regular file (a pipe, a device or a directory): give a file")
    if info.st_size > max_bytes:
        raise UnreadableFile(
            f"{info.st_size} bytes, over the {max_bytes} this harness reads: is it the right file?"
        )
    try:
        data = path.read_bytes()[: max_bytes + 1]
    except OSError as exc:
        raise UnreadableFile(f"cannot read the file: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): save it as UTF-8"
        ) from None
