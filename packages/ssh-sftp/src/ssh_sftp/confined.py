"""Resolve client paths beneath a directory descriptor, so that a path can
never reach outside the served root, even while another client swaps a
component between a directory and a symbolic link.

Checking a path string and then using it are two system calls, with room
for a race between them. Here every lookup starts at a descriptor of the
root and goes one component at a time: directories are opened with
``O_NOFOLLOW | O_DIRECTORY`` relative to their parent's descriptor, links
inside the root are resolved by hand (with the kernel's depth limit), and
the operation itself is then done on the last component relative to its
parent's descriptor without following links (``dir_fd=``,
``follow_symlinks=False``, ``O_NOFOLLOW``). Where the kernel has
``openat2`` (Linux 5.6 and later) it does the common case in one call with
``RESOLVE_BENEATH``; anything it refuses goes through the walk, which gives
the authoritative answer.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

__all__ = ["Beneath", "Entry", "OutsideRoot"]

# links followed per lookup, as Linux allows (MAXSYMLINKS)
MAX_LINKS = 40
# directories deep a lookup may go
MAX_DEPTH = 1024

_O_PATH = getattr(os, "O_PATH", 0)
# a directory descriptor used only to look names up (search permission suffices
# with O_PATH; elsewhere a read-only open)
_DIR_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class OutsideRoot(PermissionError):
    """A path that would resolve outside the served root."""


class _OpenHow(ctypes.Structure):
    """``struct open_how`` of openat2(2)."""

    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = 437  # the same number on every Linux architecture
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08


class _OpenAt2:
    """openat2(2) through ``syscall``, switched off for good the first time
    the kernel (or a seccomp filter) says it does not have it."""

    def __init__(self) -> None:
        self._syscall = None
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                self._syscall = libc.syscall
            except (OSError, AttributeError):
                self._syscall = None

    @property
    def available(self) -> bool:
        """True while openat2 may be tried."""
        return self._syscall is not None

    def __call__(self, dir_fd: int, path: str, flags: int, mode: int, resolve: int) -> int | None:
        """A new descriptor, or None if the kernel lacks openat2; raises
        ``OSError`` for every other failure."""
        call = self._syscall
        if call is None:
            return None
        how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, resolve)
        fd = call(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM) or (err == errno.EINVAL and not self._probe()):
            self._syscall = None
            return None
        raise OSError(err, os.strerror(err), path)

    def _probe(self) -> bool:
        """True if openat2 works at all (an EINVAL may mean a kernel that
        does not know one of the flags)."""
        call = self._syscall
        assert call is not None
        how = _OpenHow(_O_PATH | os.O_CLOEXEC, 0, RESOLVE_BENEATH)
        fd = call(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(-100), b"/", ctypes.byref(how), ctypes.c_size_t(24))
        if fd < 0:
            return False
        os.close(fd)
        return True


_openat2 = _OpenAt2()


@dataclass
class Entry:
    """One resolved directory entry: ``name`` in the directory open as
    ``dir_fd``. Operations use ``dir_fd=`` and, when ``follow`` is False,
    must not follow a link in ``name`` (it was resolved already, or is the
    object asked for). Close it (or use it as a context manager) when done."""

    dir_fd: int | None
    name: str
    follow: bool = False

    def close(self) -> None:
        """Close the directory descriptor."""
        if self.dir_fd is not None:
            fd, self.dir_fd = self.dir_fd, None
            os.close(fd)

    def __enter__(self) -> Entry:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _parts(path: str) -> list[str]:
    """The non-empty components of ``path`` ("." dropped)."""
    return [p for p in path.split("/") if p and p != "."]


class Beneath:
    """Lookups confined to directory ``root`` (an absolute, link-free
    local path). Client paths given to it are normalized absolute paths of
    the virtual tree ("/" is the root; no ".." left in them)."""

    def __init__(self, root: str) -> None:
        """Lookups beneath ``root``, opened at the first one and kept until
        ``close``."""
        self.root = root
        self._prefix = root.rstrip("/") + "/"
        self._fd: int | None = None
        self._finalizer: Callable[[], object] | None = None

    def close(self) -> None:
        """Close the root's descriptor (the next lookup opens it again)."""
        if self._finalizer is not None:
            self._finalizer()
        self._fd = self._finalizer = None

    def _base(self) -> int:
        """The root's descriptor (opened now if need be)."""
        if self._fd is None:
            fd = os.open(self.root, _DIR_FLAGS)
            self._fd, self._finalizer = fd, weakref.finalize(self, os.close, fd)
        return self._fd

    def _root_fd(self) -> int:
        """A new descriptor of the root."""
        return os.dup(self._base())

    # -- public lookups ----------------------------------------------------------

    def entry(self, vpath: str, follow: bool) -> Entry:
        """The entry client path ``vpath`` names. With ``follow``, a link in
        the last component is resolved too (inside the root only); without,
        the last component is the object itself."""
        fd, name, _ = self._walk(vpath, follow)
        return Entry(fd, name)

    def open(self, vpath: str, flags: int, mode: int) -> int:
        """``os.open`` of client path ``vpath`` (links followed inside the root)."""
        rel = vpath.lstrip("/") or "."
        if _openat2.available:
            try:
                fd = _openat2(self._base(), rel, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ELOOP, errno.EAGAIN):
                    raise
            else:
                if fd is not None:
                    return fd
        return self._open_walk(vpath, flags, mode)

    def canonical(self, vpath: str) -> str | None:
        """``vpath`` with every link resolved (components that do not exist
        kept as written, as ``realpath`` does); None if it leads outside."""
        try:
            fd, name, names = self._walk(vpath, True, lenient=True)
        except OutsideRoot:
            return None
        if fd is not None:
            os.close(fd)
        full = [*names, name] if name != "." else names
        return "/" + "/".join(full)

    # -- the walk ----------------------------------------------------------------

    def _fast_parent(self, parent: list[str]) -> int | None:
        """A descriptor of the link-free directory ``parent`` in one openat2
        call, or None if openat2 is missing or the path has a link."""
        if not _openat2.available:
            return None
        resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS
        try:
            return _openat2(self._base(), "/".join(parent) or ".", _DIR_FLAGS & ~os.O_NOFOLLOW, 0, resolve)
        except OSError:
            return None  # let the walk find (and report) what is wrong

    def _walk(self, vpath: str, follow: bool, lenient: bool = False) -> tuple[int | None, str, list[str]]:
        """Resolve ``vpath``: a descriptor of the directory holding the last
        component (the caller closes it), that component's name ("." for the
        root) and the names leading to the directory. With ``lenient``, a
        component that cannot be looked up ends the walk, the rest kept
        lexically (the descriptor is then None)."""
        todo = deque(_parts(vpath))
        if not todo:
            return self._root_fd(), ".", []
        if not lenient and len(todo) > 1:
            fast = self._fast_parent(list(todo)[:-1])
            if fast is not None:
                parent, last = list(todo)[:-1], todo[-1]
                if not follow:
                    return fast, last, parent
                try:
                    st = os.stat(last, dir_fd=fast, follow_symlinks=False)
                except OSError:
                    return fast, last, parent
                if not stat.S_ISLNK(st.st_mode):
                    return fast, last, parent
                os.close(fast)  # a link at the end: the walk resolves it
        fds = [self._root_fd()]
        names: list[str] = []
        links = 0
        try:
            while todo:
                comp = todo.popleft()
                if comp == "..":
                    if not names:
                        raise OutsideRoot(errno.EACCES, "path leads outside the served directory", vpath)
                    os.close(fds.pop())
                    names.pop()
                    fds.append(self._reopen(names))
                    continue
                if not todo and not follow:
                    return fds.pop(), comp, names
                target = self._step(fds, names, comp, last=not todo, lenient=lenient)
                if target is None:
                    if not todo:
                        return fds.pop(), comp, names
                    continue
                if isinstance(target, list):  # lenient: the rest is lexical
                    return self._lexical(fds, names, [comp, *todo])
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), vpath)
                if target.startswith("/"):
                    if target != self.root and not target.startswith(self._prefix):
                        raise OutsideRoot(errno.EACCES, "link leads outside the served directory", vpath)
                    os.close(fds.pop())
                    names.clear()
                    fds.append(self._root_fd())
                    target = target[len(self.root) :]
                todo.extendleft(reversed(_parts(target)))
            # every component was a directory or a link to one: the last is
            # named by its parent
            if not names:
                return fds.pop(), ".", []
            os.close(fds.pop())
            last = names.pop()
            return self._reopen(names), last, names
        finally:
            for fd in fds:
                os.close(fd)

    def _reopen(self, names: list[str]) -> int:
        """A descriptor of directory ``names`` (found link-free before), opened
        again from the root: how the walk goes back up, so that it holds one
        descriptor at a time rather than one per level."""
        fd = self._root_fd()
        try:
            for name in names:
                parent, fd = fd, -1
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
                finally:
                    os.close(parent)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        return fd

    def _step(self, fds: list[int], names: list[str], comp: str, last: bool, lenient: bool) -> str | list[str] | None:
        """Go one component down from ``fds[-1]`` (the walk's one directory
        descriptor, replaced as it goes). A directory is entered
        (None); the last component, when not a link, is left to the caller
        (None); a link gives its target; with ``lenient``, a failed lookup
        gives ``[]`` (the rest is kept lexically)."""
        top = fds[-1]
        if last:
            try:
                st = os.stat(comp, dir_fd=top, follow_symlinks=False)
            except OSError:
                if lenient:
                    return []
                return None  # does not exist (yet): the operation will say so
            if not stat.S_ISLNK(st.st_mode):
                return None
            return os.readlink(comp, dir_fd=top)
        if len(names) >= MAX_DEPTH:
            raise OSError(errno.ENAMETOOLONG, "path too deep")
        try:
            fd = os.open(comp, _DIR_FLAGS, dir_fd=top)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                try:
                    return os.readlink(comp, dir_fd=top)
                except OSError:
                    pass
            if lenient:
                return []
            raise
        os.close(fds.pop())
        fds.append(fd)
        names.append(comp)
        return None

    @staticmethod
    def _lexical(fds: list[int], names: list[str], rest: list[str]) -> tuple[None, str, list[str]]:
        """End a lenient walk: ``rest`` joined to ``names`` as written."""
        out = list(names)
        for comp in rest:
            if comp == "..":
                if out:
                    out.pop()
            else:
                out.append(comp)
        if not out:
            return None, ".", []
        return None, out[-1], out[:-1]

    def _open_walk(self, vpath: str, flags: int, mode: int) -> int:
        """``open`` by walking: the last component is opened with
        ``O_NOFOLLOW``; a link there is resolved and the open tried again."""
        for _ in range(MAX_LINKS + 1):
            fd, name, names = self._walk(vpath, True)
            try:
                assert fd is not None
                return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                try:
                    target = os.readlink(name, dir_fd=fd)
                except OSError:
                    raise exc from None
            finally:
                if fd is not None:
                    os.close(fd)
            # the last component became a link after the walk looked: go again,
            # through it
            if target.startswith("/"):
                if target != self.root and not target.startswith(self._prefix):
                    raise OutsideRoot(errno.EACCES, "link leads outside the served directory", vpath)
                vpath = "/" + target[len(self.root) :].lstrip("/")
            else:
                vpath = "/".join(["", *names, target])
                vpath = _normalize(vpath)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), vpath)


def _normalize(vpath: str) -> str:
    """``vpath`` with "." and ".." removed (".." may not climb above "/":
    that is outside)."""
    out: list[str] = []
    for comp in _parts(vpath):
        if comp == "..":
            if not out:
                raise OutsideRoot(errno.EACCES, "link leads outside the served directory", vpath)
            out.pop()
        else:
            out.append(comp)
    return "/" + "/".join(out)
