"""Logging helpers: every layer logs under the ``paramiko`` logger tree, and
each record carries a small per-thread number (``_threadid``) for the log
file format paramiko users know."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import traceback

LOG_ROOT = "paramiko"
#: the level ``log_to_file`` uses by default (``logging.DEBUG``)
DEBUG = logging.DEBUG

_thread_ids = threading.local()
_counter = itertools.count(1)
_counter_lock = threading.Lock()


def get_thread_id() -> int:
    """A small number for the calling thread: 1 for the first thread that
    asks, 2 for the next, and so on (shorter in logs than the OS thread id)."""
    ident: int | None = getattr(_thread_ids, "id", None)
    if ident is None:
        with _counter_lock:
            ident = next(_counter)
        _thread_ids.id = ident
    return ident


class PFilter(logging.Filter):
    """Tags each record with ``_threadid`` (see ``get_thread_id``) so the
    ``log_to_file`` format can show it; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``record._threadid`` and keep the record."""
        record._threadid = get_thread_id()
        return True


_pfilter = PFilter()


def get_logger(name: str) -> logging.Logger:
    """The logger ``name``, with the thread-number filter attached once."""
    logger = logging.getLogger(name)
    if _pfilter not in logger.filters:
        logger.addFilter(_pfilter)
    return logger


def log_to_file(filename: str, level: int = DEBUG) -> None:
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
    # records from loggers that did not come through get_logger need the tag too
    handler.addFilter(_pfilter)
    logger.addHandler(handler)


def tb_strings() -> list[str]:
    """The current exception's traceback, as lines without trailing newlines."""
    return "".join(traceback.format_exception(*sys.exc_info())).split("\n")
