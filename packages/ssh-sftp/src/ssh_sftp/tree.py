"""Directory-tree operations on the server: ``walk``, ``glob``, ``makedirs``
and ``rmtree``, with the semantics of their ``os``/``glob``/``shutil``
namesakes, built on ``SFTPClient``'s requests (removals pipelined)."""

from __future__ import annotations

import errno
import fnmatch
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .attributes import SFTPAttributes
from .pipeline import RequestPipe
from .sftp import CMD_ATTRS, CMD_REMOVE, CMD_RMDIR, CMD_STAT, ssh_string

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["glob", "has_magic", "makedirs", "rmtree", "walk"]

WalkEntry = tuple[str, list[str], list[str]]

_MAGIC = re.compile(r"[*?[]")


def has_magic(pattern: str) -> bool:
    """Whether ``pattern`` holds a wildcard (``*``, ``?`` or ``[``)."""
    return _MAGIC.search(pattern) is not None


def _mode(attr: SFTPAttributes) -> int:
    return attr.st_mode or 0


def _link_targets(client: SFTPClient, paths: list[str]) -> dict[str, SFTPAttributes | None]:
    """STAT each of ``paths`` (symbolic links), pipelined; None where the
    target is missing or unreadable."""
    out: dict[str, SFTPAttributes | None] = {}
    pipe = RequestPipe(client)
    todo = iter(paths)
    for p in todo:
        pipe.send(p, CMD_STAT, ssh_string(client.remote_path(p)))
        while pipe.full():
            _take_stat(pipe, out)
    while pipe.outstanding:
        _take_stat(pipe, out)
    return out


def _take_stat(pipe: RequestPipe, out: dict[str, SFTPAttributes | None]) -> None:
    reply = pipe.next()
    if reply.t == CMD_ATTRS:
        out[reply.ctx] = SFTPAttributes._from_msg(reply.message())
    else:
        out[reply.ctx] = None


def walk(
    client: SFTPClient,
    top: str,
    topdown: bool = True,
    onerror: Callable[[OSError], object] | None = None,
    followlinks: bool = False,
) -> Iterator[WalkEntry]:
    """``os.walk`` on the server: (dirpath, dirnames, filenames) for each
    directory under ``top``. A symbolic link to a directory is listed in
    dirnames (as ``os.walk`` does) but entered only with ``followlinks``."""
    try:
        entries = client.listdir_attr(top)
    except OSError as exc:
        if onerror is not None:
            onerror(exc)
        return
    dirs: list[str] = []
    files: list[str] = []
    links: list[str] = []
    for attr in entries:
        m = _mode(attr)
        if stat.S_ISDIR(m):
            dirs.append(attr.filename)
        elif stat.S_ISLNK(m):
            links.append(attr.filename)
        else:
            files.append(attr.filename)
    linked_dirs: set[str] = set()
    if links:
        targets = _link_targets(client, [posixpath.join(top, n) for n in links])
        for name in links:
            t = targets.get(posixpath.join(top, name))
            if t is not None and stat.S_ISDIR(_mode(t)):
                dirs.append(name)
                linked_dirs.add(name)
            else:
                files.append(name)
    if topdown:
        yield top, dirs, files
    for name in dirs:
        if followlinks or name not in linked_dirs:
            yield from walk(client, posixpath.join(top, name), topdown, onerror, followlinks)
    if not topdown:
        yield top, dirs, files


def _exists(client: SFTPClient, path: str) -> bool:
    try:
        client.lstat(path)
    except OSError:
        return False
    return True


def _matches(client: SFTPClient, base: str, part: str, dirs_only: bool) -> list[str]:
    """Entries of directory ``base`` (``""``: the working directory) whose
    names match ``part``; hidden names only for a pattern starting with
    ".". With ``dirs_only``, only directories and links (which may lead to
    one)."""
    try:
        entries = client.listdir_attr(base or ".")
    except OSError:
        return []
    out = []
    for attr in entries:
        name = attr.filename
        if name.startswith(".") and not part.startswith("."):
            continue
        if dirs_only and not (stat.S_ISDIR(_mode(attr)) or stat.S_ISLNK(_mode(attr))):
            continue
        if fnmatch.fnmatchcase(name, part):
            out.append(posixpath.join(base, name) if base else name)
    return out


def _below(client: SFTPClient, base: str, dirs_only: bool) -> list[str]:
    """``base`` and everything under it that is not hidden, for ``**``
    (symbolic links are not followed)."""
    out = [base]
    for dirpath, dirnames, filenames in walk(client, base or ".", followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = dirpath if base else posixpath.relpath(dirpath, ".")
        rel = "" if rel == "." else rel
        names = dirnames if dirs_only else dirnames + [f for f in filenames if not f.startswith(".")]
        out.extend(posixpath.join(rel, n) if rel else n for n in names)
    return out


def glob(client: SFTPClient, pattern: str) -> list[str]:
    """The paths on the server matching ``pattern`` (``*``, ``?``, ``[...]``
    per path component, ``**`` for any number of directories), sorted. As
    in shell globbing, wildcards do not match names starting with "."
    unless the pattern's component does; a relative pattern is matched
    against the working directory and gives relative paths."""
    if not has_magic(pattern):
        return [pattern] if _exists(client, pattern) else []
    trailing = pattern.endswith("/")
    parts = [p for p in pattern.split("/") if p]
    found = ["/"] if pattern.startswith("/") else [""]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        dirs_only = trailing or not last
        nxt: list[str] = []
        for base in found:
            if part == "**":
                nxt.extend(_below(client, base, dirs_only))
            elif has_magic(part):
                nxt.extend(_matches(client, base, part, dirs_only))
            else:
                nxt.append(posixpath.join(base, part) if base else part)
        found = nxt
        if not found:
            return []
    result = set()
    for path in found:
        if not path:
            continue
        if trailing:
            try:
                if not stat.S_ISDIR(_mode(client.stat(path))):
                    continue
            except OSError:
                continue
            path = path.rstrip("/") + "/"
        elif not _exists(client, path):
            continue
        result.add(path)
    return sorted(result)


def makedirs(client: SFTPClient, path: str, mode: int = 0o777, exist_ok: bool = False) -> None:
    """``os.makedirs`` on the server: create ``path`` and any missing parent
    (parents with the default mode, ``path`` with ``mode``). An existing
    directory raises ``FileExistsError`` unless ``exist_ok``."""
    try:
        attr = client.stat(path)
    except FileNotFoundError:
        pass
    else:
        if exist_ok and stat.S_ISDIR(_mode(attr)):
            return
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    head = posixpath.dirname(path.rstrip("/"))
    if head and head not in ("/", path):
        makedirs(client, head, exist_ok=True)
    try:
        client.mkdir(path, mode)
    except OSError:
        # raced with someone else (or a server that says FAILURE for EEXIST)
        try:
            ok = stat.S_ISDIR(_mode(client.stat(path)))
        except OSError:
            ok = False
        if not ok:
            raise
        if not exist_ok:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path) from None


def rmtree(client: SFTPClient, path: str, ignore_errors: bool = False) -> None:
    """``shutil.rmtree`` on the server: remove ``path`` and everything under
    it. Symbolic links are removed, never followed; ``path`` itself must not
    be one. Removals are pipelined (files first, then directories from the
    deepest level up). With ``ignore_errors``, failures are skipped."""
    try:
        if stat.S_ISLNK(_mode(client.lstat(path))):
            raise OSError("Cannot call rmtree on a symbolic link")
    except OSError:
        if ignore_errors:
            return
        raise
    levels: list[list[str]] = []
    files: list[str] = []
    errors: list[OSError] = []
    # breadth first, by lstat: links and other non-directories are removed
    # as files, directories collected per depth for the RMDIR passes
    level = [path]
    while level:
        levels.append(level)
        below: list[str] = []
        for d in level:
            try:
                entries = client.listdir_attr(d)
            except OSError as exc:
                errors.append(exc)
                continue
            for attr in entries:
                child = posixpath.join(d, attr.filename)
                (below if stat.S_ISDIR(_mode(attr)) else files).append(child)
        level = below
    errors.extend(_pipelined(client, CMD_REMOVE, files))
    for level in reversed(levels):
        errors.extend(_pipelined(client, CMD_RMDIR, level))
    if errors and not ignore_errors:
        raise errors[0]


def _pipelined(client: SFTPClient, t: int, paths: list[str]) -> list[OSError]:
    """Send request ``t`` (REMOVE, RMDIR) for each path with many in
    flight; the errors, in the order they came."""
    pipe = RequestPipe(client)
    errors: list[OSError] = []

    def take() -> None:
        reply = pipe.next()
        exc = reply.error(reply.ctx)
        if isinstance(exc, OSError):
            errors.append(exc)
        elif exc is not None:
            errors.append(OSError(str(exc)))

    for p in paths:
        pipe.send(p, t, ssh_string(client.remote_path(p)))
        while pipe.full():
            take()
    while pipe.outstanding:
        take()
    return errors
