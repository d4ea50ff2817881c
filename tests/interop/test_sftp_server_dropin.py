"""Our SFTP server where OpenSSH's sftp-server goes: behind ``sftp -D`` /
``scp -D``, as sshd's ``Subsystem sftp`` line (a private sshd), with
sftp-server's options; and a server written to paramiko 1.5's interface
under OpenSSH's ``sftp``, compared with sftp-server on the same commands.

Run as a script (``python test_sftp_server_dropin.py ROOT``) it serves
ROOT on stdio with that 1.5-only interface, for ``sftp -D``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssh_sftp.stdio_server import expand_start_directory, parse_args

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

HERE = Path(__file__).resolve()


def _serve_stub15(root: str) -> None:
    """Serve ``root`` on stdio through ``tests/sftp``'s 1.5-only interface."""
    sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent.parent / "sftp")]
    from test_extensions import Stub15

    from ssh_sftp import SFTPServer
    from ssh_sftp.streams import PipeStream
    from ssh_transport.server import ServerInterface

    iface = type("Stub15Here", (Stub15,), {"ROOT": root})
    out_fd = os.dup(1)
    os.dup2(2, 1)
    stream = PipeStream(0, out_fd)
    server = SFTPServer(stream, "sftp", ServerInterface(), iface)
    try:
        server.start_subsystem("sftp", None, stream)
    finally:
        server.finish_subsystem()


def _need(name: str) -> str:
    from support.peers import need_program

    return need_program(name)


def _sftp_batch(server_cmd: str, commands: str, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``sftp -D server_cmd -b`` running ``commands`` from ``cwd``."""
    batch = tmp / f"batch{os.getpid()}-{len(commands)}"
    batch.write_text(commands)
    return subprocess.run(
        [_need("sftp"), "-D", server_cmd, "-b", str(batch)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


def _tree(root: Path) -> dict[str, tuple[str, int, int | str]]:
    """Every entry below ``root``: kind, permission bits, size or link target."""
    out: dict[str, tuple[str, int, int | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", 0, os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode & 0o777, 0)
            else:
                out[rel] = ("file", st.st_mode & 0o777, st.st_size)
    return out


SESSION_15 = """\
put up.bin
get up.bin down.bin
ls -l
mkdir dir
rename up.bin dir/moved.bin
put small.txt dir/other.bin
rename dir/moved.bin dir/other.bin
chmod 600 dir/other.bin
ln -s other.bin dir/link
ls -l dir
get dir/link via-link.bin
mkdir empty
rmdir empty
put small.txt gone.txt
rm gone.txt
"""


@pytest.fixture
def two_roots(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    local = tmp_path / "local"
    local.mkdir()
    (local / "up.bin").write_bytes(os.urandom(300_000))
    (local / "small.txt").write_text("small\n")
    yield tmp_path / "theirs", tmp_path / "ours", local


def test_15_interface_under_openssh_sftp_as_sftp_server(tmp_path: Path, two_roots: tuple[Path, Path, Path]) -> None:
    theirs, ours, local = two_roots
    sftp_server = shutil.which("sftp-server", path="/usr/lib/openssh:/usr/libexec/openssh:/usr/libexec")
    if sftp_server is None:
        from support.peers import missing_peer

        missing_peer("OpenSSH sftp-server is not installed")
    results = {}
    for root, cmd in ((theirs, f"{sftp_server} -d {theirs}"), (ours, f"{sys.executable} {HERE} {ours}")):
        root.mkdir()
        run_in = local / root.name
        run_in.mkdir()
        for f in ("up.bin", "small.txt"):
            shutil.copy(local / f, run_in / f)
        # our stub serves its root as "/" and starts there
        session = SESSION_15 if root == theirs else "cd /\n" + SESSION_15
        results[root.name] = _sftp_batch(cmd, session, run_in, tmp_path)
        assert results[root.name].returncode == 0, results[root.name].stdout + results[root.name].stderr
    # the same commands leave the same files behind
    assert _tree(ours) == _tree(theirs)
    assert _tree(ours)["dir/other.bin"][1:] == (0o600, 300_000)  # rename replaced the target
    assert (local / "ours" / "via-link.bin").read_bytes() == (local / "up.bin").read_bytes()
    assert "moved.bin" not in results["ours"].stdout.split("ls -l dir")[1]
    # df needs statvfs, which a 1.5 interface cannot answer: sftp says so, as for any such server
    df = _sftp_batch(f"{sys.executable} {HERE} {ours}", "df /\n", local, tmp_path)
    assert df.returncode != 0 and "does not support statvfs" in df.stderr


def _ours(*args: str) -> str:
    """The command line of our drop-in server, as ``sftp -D`` takes it."""
    script = shutil.which("ssh-sftp-server", path=os.path.dirname(sys.executable))
    base = script if script is not None else f"{sys.executable} -m ssh_sftp.stdio_server"
    return " ".join([base, *args])


def test_dropin_whole_filesystem_from_start_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("hello\n")
    os.chmod(work / "a.txt", 0o640)
    result = _sftp_batch(
        _ours("-e", "-l", "verbose", "-d", str(work)),
        "pwd\ncp a.txt b.txt\nls -l\ndf\nget /etc/hostname host.txt\n",
        tmp_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Remote working directory: {work}" in result.stdout
    assert (work / "b.txt").read_text() == "hello\n" and (work / "b.txt").stat().st_mode & 0o777 == 0o640
    me = pwd.getpwuid(os.getuid()).pw_name
    line = next(x for x in result.stdout.splitlines() if x.startswith("-rw") and x.endswith(" b.txt"))
    assert f" {me} " in line  # users-groups-by-id: names in ls -l
    assert "%Capacity" in result.stdout
    assert (tmp_path / "host.txt").read_bytes() == Path("/etc/hostname").read_bytes()  # the whole file system
    assert "session opened for local user" in result.stderr  # -e -l verbose


def test_dropin_read_only_and_lists(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("data\n")
    ro = _sftp_batch(_ours("-R", "-d", str(tmp_path)), "get f.txt g.txt\nput f.txt h.txt\n", tmp_path, tmp_path)
    assert ro.returncode != 0 and "Permission denied" in ro.stderr
    assert (tmp_path / "g.txt").exists() and not (tmp_path / "h.txt").exists()
    denied = _sftp_batch(_ours("-P", "remove", "-d", str(tmp_path)), "rm g.txt\n", tmp_path, tmp_path)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr and (tmp_path / "g.txt").exists()
    allowed = "open,close,read,lstat,stat,fstat,realpath,opendir,readdir,limits"
    only = _sftp_batch(_ours("-p", allowed, "-d", str(tmp_path)), "ls\nmkdir d\n", tmp_path, tmp_path)
    assert "f.txt" in only.stdout and "Permission denied" in only.stderr and not (tmp_path / "d").exists()


def test_dropin_umask_and_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    result = _sftp_batch(_ours("-u", "077", "--root", str(root)), "pwd\nmkdir d\n", tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Remote working directory: /" in result.stdout
    assert (root / "d").stat().st_mode & 0o777 == 0o700


def test_query_matches_sftp_server(tmp_path: Path) -> None:
    ours = subprocess.run(
        [sys.executable, "-m", "ssh_sftp.stdio_server", "-Q", "requests"], capture_output=True, text=True, timeout=30
    )
    assert ours.returncode == 0
    names = ours.stdout.split()
    sftp_server = shutil.which("sftp-server", path="/usr/lib/openssh:/usr/libexec/openssh")
    if sftp_server is not None:
        theirs = subprocess.run([sftp_server, "-Q", "requests"], capture_output=True, text=True, timeout=30)
        assert names[: len(theirs.stdout.split())] == theirs.stdout.split()
    bad = subprocess.run(
        [sys.executable, "-m", "ssh_sftp.stdio_server", "-Q", "x"], capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 1 and "Invalid query type" in bad.stderr


def test_scp_direct(tmp_path: Path) -> None:
    scp = _need("scp")
    wrapper = tmp_path / "server"
    wrapper.write_text(f'#!/bin/sh\nexec {_ours("-e")} "$@"\n')
    wrapper.chmod(0o755)
    (tmp_path / "src.bin").write_bytes(os.urandom(70_000))
    result = subprocess.run(
        [scp, "-D", str(wrapper), str(tmp_path / "src.bin"), f"localhost:{tmp_path / 'dst.bin'}"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dst.bin").read_bytes() == (tmp_path / "src.bin").read_bytes()


def test_parse_args_like_sftp_server(capsys: pytest.CaptureFixture[str]) -> None:
    me = pwd.getpwuid(os.getuid())
    assert expand_start_directory("%d/x/%u/%%", me.pw_name, me.pw_dir) == f"{me.pw_dir}/x/{me.pw_name}/%"
    assert expand_start_directory("~/y", "u", "/home/u") == "/home/u/y"
    options = parse_args(["-e", "-R", "-l", "DEBUG3", "-f", "local3", "-u", "022", "-d", "/srv", "-P", "write"])
    assert options.log_stderr and options.policy.read_only and options.umask == 0o022 and options.start == "/srv"
    assert options.policy.denied == frozenset({"write"})
    assert parse_args(["--", "localhost", "sftp"]).start is None  # what scp -D hands over
    assert not parse_args(["-c", "sftp-server -R"]).policy.read_only  # login-shell use: the rest is ignored
    for argv, status in ((["-h"], 1), (["-l", "loud"], 1), (["-u", "999"], 255), (["-p", "a", "-p", "b"], 255)):
        with pytest.raises(SystemExit) as info:
            parse_args(argv)
        assert info.value.code == status, argv
    with pytest.raises(SystemExit):
        parse_args(["-d", "%x"])
    assert "usage:" in capsys.readouterr().err


def test_subsystem_line_of_a_private_sshd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support import sshd as sshd_support

    if not sshd_support.sshd_available():
        from support.peers import missing_peer

        missing_peer("sshd is not installed")
    sftp = _need("sftp")
    start = tmp_path / "start"
    start.mkdir()
    (start / "hello.txt").write_text("hi\n")
    # the fixture writes "Subsystem sftp <sftp-server path>": point it at ours, with options
    monkeypatch.setattr(sshd_support, "sftp_server_path", lambda: _ours("-l", "info", "-d", str(start)))
    with sshd_support.start_sshd(tmp_path / "sshd") as server:
        batch = tmp_path / "batch"
        batch.write_text("pwd\nls -l\nget hello.txt got.txt\nput got.txt back.txt\ncp hello.txt copy.txt\n")
        result = subprocess.run(
            [sftp, *server.ssh_args(program="sftp"), "-b", str(batch), server.target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stdout + result.stderr + server.log()
    assert f"Remote working directory: {start}" in result.stdout
    assert (tmp_path / "got.txt").read_text() == "hi\n"
    assert (start / "back.txt").read_text() == "hi\n" and (start / "copy.txt").read_text() == "hi\n"
    assert "session opened for local user" not in result.stderr  # logs go to syslog, not the client


if __name__ == "__main__":
    _serve_stub15(sys.argv[1])
