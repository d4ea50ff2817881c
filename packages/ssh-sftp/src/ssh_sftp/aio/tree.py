"""Recursive ``get``/``put`` for the asyncio client: the same plans as the
threaded client's (``transfer``: directories first, then files, links
skipped unless followed, ``cp -r`` destinations), with several files
copied at once as separate tasks."""

from __future__ import annotations

import asyncio
import errno
import os
import posixpath
import stat
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..attributes import SFTPAttributes
from ..transfer import (
    MAX_DEPTH,
    DirJob,
    FileJob,
    Plan,
    TransferOptions,
    file_times,
    local_child,
    permission_bits,
    scan_local,
)

if TYPE_CHECKING:
    from .client import Callback, SFTPClient

__all__ = ["get_tree", "put_tree"]

# Files copied at once.
FILES_AT_ONCE = 8


async def _plan_get(client: SFTPClient, remotepath: str, localpath: str, recursive: bool, follow: bool) -> Plan:
    """What a download of ``remotepath`` to ``localpath`` involves."""
    top = await client.stat(remotepath)
    mode = top.st_mode or 0
    if stat.S_ISDIR(mode):
        if not recursive:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), remotepath)
        dst = local_child(localpath, remotepath) if os.path.isdir(localpath) else localpath
        plan = Plan([DirJob(remotepath, dst, permission_bits(top.st_mode), *file_times(top))], [])
        await _scan_remote(client, plan, remotepath, dst, follow, 0)
        return plan
    if top.st_mode is not None and not stat.S_ISREG(mode):
        raise OSError(f"Cannot download non-regular file: {remotepath}")
    dst = local_child(localpath, remotepath) if recursive and os.path.isdir(localpath) else localpath
    return Plan([], [FileJob(remotepath, dst, top.st_size or 0, permission_bits(top.st_mode), *file_times(top))])


async def _scan_remote(client: SFTPClient, plan: Plan, src: str, dst: str, follow: bool, depth: int) -> None:
    """Add the contents of remote directory ``src`` (copied to ``dst``)."""
    for attr in await client.listdir_attr(src):
        s = posixpath.join(src, attr.filename)
        d = os.path.join(dst, attr.filename)
        mode = attr.st_mode or 0
        if stat.S_ISLNK(mode):
            if not follow:
                client.logger.info('download "%s": not a regular file', s)
                continue
            try:
                attr = await client.stat(s)
            except OSError:
                client.logger.info('remote stat "%s" failed', s)
                continue
            mode = attr.st_mode or 0
        if stat.S_ISDIR(mode):
            if depth + 1 > MAX_DEPTH:
                raise OSError(f'Maximum directory depth exceeded: "{s}"')
            plan.dirs.append(DirJob(s, d, permission_bits(attr.st_mode), *file_times(attr), depth=depth + 1))
            await _scan_remote(client, plan, s, d, follow, depth + 1)
        elif stat.S_ISREG(mode):
            plan.files.append(FileJob(s, d, attr.st_size or 0, permission_bits(attr.st_mode), *file_times(attr)))
        else:
            client.logger.info('download "%s": not a regular file', s)


async def _run(jobs: list[Callable[[], Awaitable[None]]]) -> None:
    """Run ``jobs`` with ``FILES_AT_ONCE`` at a time; the first failure is
    raised once the running ones are done (the rest are not started)."""
    queue = list(reversed(jobs))
    failures: list[BaseException] = []

    async def worker() -> None:
        while queue and not failures:
            job = queue.pop()
            try:
                await job()
            except Exception as exc:
                failures.append(exc)

    await asyncio.gather(*(worker() for _ in range(min(FILES_AT_ONCE, len(jobs)))))
    if failures:
        raise failures[0]


async def get_tree(
    client: SFTPClient,
    remotepath: str,
    localpath: str,
    recursive: bool,
    preserve: bool,
    follow: bool,
    callback: Callback | None,
) -> None:
    """Download ``remotepath`` (a file, or with ``recursive`` a tree) to
    ``localpath``; see ``SFTPClient.get``."""
    plan = await _plan_get(client, remotepath, localpath, recursive, follow)
    for d in plan.dirs:
        mode = 0o777 if d.mode is None else (d.mode & 0o1777) | stat.S_IWUSR | stat.S_IXUSR
        try:
            os.mkdir(d.dst, mode)
        except FileExistsError:
            if not os.path.isdir(d.dst):
                raise

    def job(f: FileJob) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await client.get(f.src, f.dst, callback)
            if preserve:
                if f.mode is not None:
                    os.chmod(f.dst, f.mode)
                if f.atime is not None and f.mtime is not None:
                    os.utime(f.dst, (f.atime, f.mtime))

        return run

    await _run([job(f) for f in plan.files])
    for d in reversed(plan.dirs):
        if d.mode is None:
            continue
        if preserve:
            os.chmod(d.dst, d.mode)
            if d.atime is not None and d.mtime is not None:
                os.utime(d.dst, (d.atime, d.mtime))
        elif d.mode & (stat.S_IWUSR | stat.S_IXUSR) != stat.S_IWUSR | stat.S_IXUSR:
            os.chmod(d.dst, d.mode & 0o1777)


async def _remote_child(client: SFTPClient, remotepath: str, localpath: str) -> str:
    """``remotepath/<name of localpath>`` if ``remotepath`` is an existing
    directory, else ``remotepath``."""
    try:
        isdir = stat.S_ISDIR((await client.stat(remotepath)).st_mode or 0)
    except OSError:
        return remotepath
    base = os.path.basename(os.path.normpath(localpath))
    if not isdir or base in ("", ".", "..", os.sep):
        return remotepath
    return posixpath.join(remotepath, base)


async def put_tree(
    client: SFTPClient,
    localpath: str,
    remotepath: str,
    recursive: bool,
    preserve: bool,
    follow: bool,
    callback: Callback | None,
    confirm: bool,
) -> SFTPAttributes:
    """Upload ``localpath`` (a file, or with ``recursive`` a tree) to
    ``remotepath``; see ``SFTPClient.put``."""
    st = os.stat(localpath)
    opts = TransferOptions(follow_symlinks=follow)
    if stat.S_ISDIR(st.st_mode):
        if not recursive:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), localpath)
        dst = await _remote_child(client, remotepath, localpath)
        plan = Plan([DirJob(localpath, dst, permission_bits(st.st_mode), st.st_atime, st.st_mtime)], [])
        scan_local(client.logger, plan, localpath, dst, opts, 0)
    elif not stat.S_ISREG(st.st_mode):
        raise OSError(f"Cannot upload non-regular file: {localpath}")
    else:
        dst = await _remote_child(client, remotepath, localpath) if recursive else remotepath
        plan = Plan([], [FileJob(localpath, dst, st.st_size, permission_bits(st.st_mode), st.st_atime, st.st_mtime)])
    for d in plan.dirs:
        try:
            await client.mkdir(d.dst, 0o777 if d.mode is None else d.mode | stat.S_IWUSR | stat.S_IXUSR)
        except OSError:
            try:
                ok = stat.S_ISDIR((await client.stat(d.dst)).st_mode or 0)
            except OSError:
                ok = False
            if not ok:
                raise

    def job(f: FileJob) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await client.put(f.src, f.dst, callback, confirm)
            if preserve:
                attr = SFTPAttributes()
                attr.st_mode = f.mode
                if f.atime is not None and f.mtime is not None:
                    attr.st_atime, attr.st_mtime = f.atime, f.mtime
                await client.setstat(f.dst, attr)

        return run

    await _run([job(f) for f in plan.files])
    for d in reversed(plan.dirs):
        if preserve and d.mode is not None:
            attr = SFTPAttributes()
            attr.st_mode = d.mode
            if d.atime is not None and d.mtime is not None:
                attr.st_atime, attr.st_mtime = d.atime, d.mtime
            await client.setstat(d.dst, attr)
    if confirm:
        return await client.stat(plan.dirs[0].dst if plan.dirs else plan.files[0].dst)
    return SFTPAttributes()
