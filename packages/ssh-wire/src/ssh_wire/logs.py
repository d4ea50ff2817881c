"""Logging helpers: every layer logs under the ``paramiko`` logger tree."""

from __future__ import annotations

import logging
import sys
import traceback

LOG_ROOT = "paramiko"


def get_logger(name: str) -> logging.Logger:
    """The logger ``name``; names without a dot live under ``paramiko``."""
    return logging.getLogger(name)


def log_to_file(filename: str, level: int = logging.DEBUG) -> None:
    """Send ``paramiko`` logs to ``filename``, unless they already go somewhere."""
    logger = logging.getLogger(LOG_ROOT)
    if logger.handlers:
        return
    logger.setLevel(level)
    handler = logging.FileHandler(filename, "a")
    handler.setFormatter(
        logging.Formatter(
            "%(levelname)-.3s [%(asctime)s.%(msecs)03d] thr=%(_threadid)-3d %(name)s: %(message)s",
            "%Y%m%d-%H:%M:%S",
        )
    )
    handler.addFilter(_ThreadIdFilter())
    logger.addHandler(handler)


class _ThreadIdFilter(logging.Filter):
    """Adds a small per-thread number to each record, for the file format."""

    _ids: dict[int, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Tag ``record`` with a small per-thread number (``_threadid``)."""
        ident = record.thread or 0
        record._threadid = self._ids.setdefault(ident, len(self._ids) + 1)
        return True


def tb_strings() -> list[str]:
    """The current exception's traceback, as lines without trailing newlines."""
    return "".join(traceback.format_exception(*sys.exc_info())).split("\n")
