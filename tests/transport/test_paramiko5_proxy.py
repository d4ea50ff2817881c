"""ProxyCommand as paramiko 5.x exposes it (``cmd`` as an argv list,
``closed``/``_closed``, ``ProxyCommandFailure``), and the safety rule that
``close`` never signals a process it did not start or has already reaped.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any
from unittest import mock

import pytest

from ssh_transport import proxy as proxy_module
from ssh_transport.proxy import ProxyCommand
from ssh_wire import ProxyCommandFailure


@pytest.mark.timeout(30)
def test_cmd_is_the_argv_list() -> None:
    line = "cat -u 'a b' \"c d\""
    with ProxyCommand(line) as p:
        assert p.cmd == ["cat", "-u", "a b", "c d"]
        assert p.cmd == shlex.split(line)
        assert p.cmd[1] == "-u"  # what sshtunnel logs
        assert p.command_line == line


def test_unbalanced_quotes_raise_value_error_before_starting_anything() -> None:
    with mock.patch.object(proxy_module.subprocess, "Popen") as popen:
        with pytest.raises(ValueError):
            ProxyCommand("ssh -W 'host:22 jump")
        popen.assert_not_called()


@pytest.mark.timeout(30)
def test_closed_and_underscore_closed_follow_the_program() -> None:
    p = ProxyCommand("cat")
    try:
        assert p.closed is False and p._closed is False
        p.process.stdin.close()
        p.process.wait(10)
        assert p.closed is True and p._closed is True  # exited, as paramiko reports it
    finally:
        p.close()
    assert p.closed and p._closed


@pytest.mark.timeout(30)
def test_failure_is_proxy_command_failure_with_paramikos_message() -> None:
    p = ProxyCommand(f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit(5)'")
    try:
        p.settimeout(10)
        with pytest.raises(ProxyCommandFailure) as info:
            p.recv(10)
        assert "exit status 5" in str(info.value)
        assert info.value.error.startswith("exit status 5")
    finally:
        p.close()


def test_settimeout_is_kept() -> None:
    with ProxyCommand("cat") as p:
        p.settimeout(2.5)
        assert p.timeout == 2.5
        p.settimeout(None)
        assert p.timeout is None


def no_signals() -> Any:
    """Patch every way this module could signal a process."""
    return mock.patch.multiple(proxy_module.os, kill=mock.DEFAULT, killpg=mock.DEFAULT)


def test_close_with_a_mocked_popen_signals_nothing() -> None:
    """paramiko's own tests patch Popen; its pid then reads as 1 (init or,
    as root, every process): close must not send anything anywhere."""
    fake = mock.MagicMock()
    assert int(fake.pid) == 1
    with mock.patch.object(proxy_module.subprocess, "Popen", return_value=fake) as popen:
        p = ProxyCommand("foo bar")
    popen.assert_called_once()
    with no_signals() as patched, mock.patch.object(proxy_module.signal, "pthread_kill", create=True) as pk:
        p.close()
        assert patched["kill"].call_count == 0
        assert patched["killpg"].call_count == 0
        pk.assert_not_called()
    fake.send_signal.assert_not_called()
    fake.terminate.assert_not_called()
    fake.kill.assert_not_called()
    assert p.closed


@pytest.mark.timeout(30)
def test_close_after_process_swapped_for_a_double_signals_nothing() -> None:
    p = ProxyCommand("cat")
    real = p.process
    double = mock.MagicMock(pid=1, returncode=None)
    p.process = double
    try:
        with no_signals() as patched:
            p.close()
            assert patched["kill"].call_count == 0
            assert patched["killpg"].call_count == 0
        double.terminate.assert_not_called()
        double.kill.assert_not_called()
    finally:
        real.kill()
        real.wait(10)
        for pipe in (real.stdin, real.stdout, real.stderr):
            if pipe is not None:
                pipe.close()


@pytest.mark.timeout(30)
def test_close_after_the_child_was_reaped_signals_nothing() -> None:
    """Once reaped, the pid may belong to someone else."""
    p = ProxyCommand("cat")
    p.process.stdin.close()
    assert p.process.wait(10) == 0
    with no_signals() as patched:
        p.close()
        assert patched["kill"].call_count == 0
        assert patched["killpg"].call_count == 0


@pytest.mark.timeout(30)
def test_close_signals_only_its_own_live_group() -> None:
    p = ProxyCommand("sleep 30")
    pid = p.process.pid
    assert os.getpgid(pid) == pid  # leads its own session/group
    calls: list[tuple[int, int]] = []
    real_killpg = os.killpg

    def recording_killpg(pgid: int, sig: int) -> None:
        calls.append((pgid, sig))
        real_killpg(pgid, sig)

    with (
        mock.patch.object(proxy_module.os, "killpg", recording_killpg),
        mock.patch.object(proxy_module.os, "kill") as kill,
    ):
        p.close()
        kill.assert_not_called()
    assert [pg for pg, _ in calls] == [pid]
    assert p.process.returncode is not None


def test_a_program_that_cannot_start_raises_proxy_command_failure() -> None:
    with mock.patch.object(proxy_module.subprocess, "Popen", side_effect=FileNotFoundError(2, "No such file")):
        with pytest.raises(ProxyCommandFailure):
            ProxyCommand("whatever")


def test_proxy_command_is_a_closing_context_manager() -> None:
    from ssh_wire import ClosingContextManager

    assert issubclass(ProxyCommand, ClosingContextManager)
