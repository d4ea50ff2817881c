"""Directory-tree operations on the server for the asyncio client:
``makedirs``, ``rmtree`` and ``walk`` with the semantics of their
``os``/``shutil`` namesakes, built on ``SFTPClient``'s requests (the
removals of one directory, and the stats of one directory's links, run
concurrently). ``SFTPClient``'s methods of the same names call these."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from ..attributes import SFTPAttributes

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["makedirs", "rmtree", "walk"]

WalkEntry = tuple[str, list[str], list[str]]


async def makedirs(client: SFTPClient, p: str, mode: int, exist_ok: bool) -> None:
    """``os.makedirs`` on the server (``FileExistsError`` if ``p``
    exists, unless ``exist_ok`` and it is a directory)."""
    try:
        attr = await client.stat(p)
    except FileNotFoundError:
        pass
    else:
        if exist_ok and stat.S_ISDIR(attr.st_mode or 0):
            return
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), p)
    head = p.rstrip("/").rpartition("/")[0]
    if head and head not in ("/", p):
        await makedirs(client, head, 0o777, True)
    try:
        await client.mkdir(p, mode)
    except OSError:
        try:
            ok = stat.S_ISDIR((await client.stat(p)).st_mode or 0)
        except OSError:
            ok = False
        if not ok:
            raise
        if not exist_ok:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), p) from None


async def rmtree(client: SFTPClient, p: str, ignore_errors: bool) -> None:
    """``shutil.rmtree`` on the server, of ``p``: links are removed, not
    followed; the removals of one directory run concurrently."""
    try:
        if stat.S_ISLNK((await client.lstat(p)).st_mode or 0):
            raise OSError("Cannot call rmtree on a symbolic link")
    except OSError:
        if ignore_errors:
            return
        raise
    errors: list[BaseException] = []
    await _rmtree(client, p, errors)
    if errors and not ignore_errors:
        raise errors[0]


async def _rmtree(client: SFTPClient, path: str, errors: list[BaseException]) -> None:
    """Empty and remove directory ``path``, collecting failures."""
    try:
        entries = await client.listdir_attr(path)
    except OSError as exc:
        errors.append(exc)
        return
    jobs = []
    for attr in entries:
        child = _join(path, attr.filename)
        if stat.S_ISDIR(attr.st_mode or 0):
            jobs.append(_rmtree(client, child, errors))
        else:
            jobs.append(client.remove(child))
    for result in await asyncio.gather(*jobs, return_exceptions=True):
        if isinstance(result, BaseException):
            if not isinstance(result, OSError):
                raise result
            errors.append(result)
    try:
        await client.rmdir(path)
    except OSError as exc:
        errors.append(exc)


async def walk(
    client: SFTPClient,
    top_s: str,
    topdown: bool,
    onerror: Callable[[OSError], object] | None,
    followlinks: bool,
) -> AsyncIterator[WalkEntry]:
    """``os.walk`` on the server from ``top_s``, as an async iterator of
    ``(dirpath, dirnames, filenames)``; a link to a directory is listed in
    dirnames but entered only with ``followlinks``."""
    try:
        entries = await client.listdir_attr(top_s)
    except OSError as exc:
        if onerror is not None:
            onerror(exc)
        return
    dirs: list[str] = []
    files: list[str] = []
    linked: set[str] = set()
    links = []
    for attr in entries:
        m = attr.st_mode or 0
        if stat.S_ISDIR(m):
            dirs.append(attr.filename)
        elif stat.S_ISLNK(m):
            links.append(attr.filename)
        else:
            files.append(attr.filename)
    targets = await asyncio.gather(*(client.stat(_join(top_s, n)) for n in links), return_exceptions=True)
    for name, target in zip(links, targets, strict=True):
        if isinstance(target, SFTPAttributes) and stat.S_ISDIR(target.st_mode or 0):
            dirs.append(name)
            linked.add(name)
        elif isinstance(target, BaseException) and not isinstance(target, OSError):
            raise target
        else:
            files.append(name)
    if topdown:
        yield top_s, dirs, files
    for name in dirs:
        if followlinks or name not in linked:
            async for entry in walk(client, _join(top_s, name), topdown, onerror, followlinks):
                yield entry
    if not topdown:
        yield top_s, dirs, files


def _join(a: str, b: str) -> str:
    """Remote path join."""
    return b if not a else (a + b if a.endswith("/") else a + "/" + b)
