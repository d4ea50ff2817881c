"""``ServerSide``: server-role event handling for ``Transport``. It asks the
``ServerInterface`` (through the ``ServerPolicy`` shared with the asyncio
server) and feeds its decisions back into the protocol core.

The ``on_*`` handlers run in the transport's reader thread, outside the
transport lock, so hooks may use channels freely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ssh_wire import Message

from .channel import Channel
from .protocol import events as ev
from .protocol.constants import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
)
from .server import InteractiveQuery
from .server_policy import (
    HOSTKEYS_ANNOUNCE,
    HOSTKEYS_PROVE,
    PERMIT_PORT_FORWARDING,
    ServerPolicy,
    host_key_proof_data,
    host_keys_announcement,
    original_command,
    plain_host_keys,
    prove_host_keys,
    read_key_blobs,
)

if TYPE_CHECKING:
    from .channel_table import ChannelTable
    from .socket_pump import SocketPump
    from .transport import Transport

# re-exported: they used to live here (the policy is shared with the asyncio server)
__all__ = [
    "HOSTKEYS_ANNOUNCE",
    "HOSTKEYS_PROVE",
    "PERMIT_PORT_FORWARDING",
    "ServerSide",
    "host_key_proof_data",
    "read_key_blobs",
]


class ServerSide:
    """Turns server-role events into ``ServerInterface`` calls (one per
    server transport)."""

    def __init__(
        self,
        transport: Transport,
        pump: SocketPump,
        cond: threading.Condition,
        channels: ChannelTable,
        host_keys: Callable[[], Iterable[Any]],
        host_key_algorithm: Callable[[], str],
        logged_in: Callable[[str], None],
    ) -> None:
        """Serve ``transport`` (its ``server_object``, ``getpeername()``,
        window sizes and ``announce_host_keys`` are read when needed), on the
        session ``pump`` drives, opening channels in ``channels``.
        ``host_keys()`` gives our host keys, ``host_key_algorithm()`` the one
        the key exchange used, and ``logged_in(username)`` is called (lock
        held) when a client has authenticated."""
        self._transport = transport
        self._pump = pump
        self._lock = pump.lock
        self._cond = cond
        self._channels = channels
        self._host_keys = host_keys
        self._host_key_algorithm = host_key_algorithm
        self._logged_in = logged_in
        #: the policy shared with the asyncio server; it consults ``server_object``
        self.policy = ServerPolicy(lambda: transport.server_object, pump.logger)
        self._banner_done = False
        self._host_keys_announced = False

    def _hook(self, name: str, default: Any, *args: Any) -> Any:
        """Call a server hook; an exception from it counts as a refusal."""
        return self.policy.hook(name, default, *args)

    # -- user authentication -------------------------------------------------------

    def on_auth_requested(self, e: ev.AuthRequested) -> None:
        core = self._pump.core
        assert core is not None
        if e.hostbound:
            self._pump.logger.debug("auth request for %s: publickey-hostbound-v00@openssh.com", e.username)
        if not self._banner_done:
            self._banner_done = True
            banner = self._hook("get_banner", (None, None))
            if banner and banner[0]:
                with self._lock:
                    core.send_auth_banner(banner[0], banner[1] or "")
        policy = self.policy
        sk_signature = core.server_auth.sk_signature if core.server_auth is not None else None
        result = policy.auth_answer(e, sk_signature, self._client_address)
        if e.method == "publickey":
            result = policy.publickey_finish(result, e.username, e.key, e.signed, sk_signature)
        self._answer_auth(result, policy.allowed_auths(e.username), e.username)

    def on_auth_info(self, e: ev.AuthInfoResponded) -> None:
        result = self._hook("check_auth_interactive_response", AUTH_FAILED, list(e.responses))
        self._answer_auth(result, self.policy.allowed_auths(e.username), e.username)

    def _answer_auth(self, result: Any, allowed: list[str], username: str) -> None:
        core = self._pump.core
        assert core is not None
        with self._lock:
            if isinstance(result, InteractiveQuery):
                core.auth_info_request(result.name, result.instructions, result.prompts)
            else:
                if not isinstance(result, int) or result not in (0, 1, 2):
                    result = AUTH_FAILED
                core.auth_result(result, allowed)
                if result == AUTH_SUCCESSFUL and core.authenticated:
                    self._logged_in(username)
                    self._announce_host_keys()
                    self._cond.notify_all()
        self._pump.flush()

    def _client_address(self) -> str | None:
        """The client's IP address (for ``source-address``), if it has one."""
        try:
            peer = self._transport.getpeername()
        except OSError:
            return None
        if isinstance(peer, tuple) and peer and isinstance(peer[0], str) and peer[0]:
            return peer[0]
        return None

    # -- host keys (hostkeys-00 / hostkeys-prove-00) ----------------------------------

    def _plain_host_keys(self) -> list[Any]:
        """Each distinct host key once, without its certificate."""
        return plain_host_keys(self._host_keys())

    def _announce_host_keys(self) -> None:
        """(Lock held.) Send ``hostkeys-00@openssh.com`` once, after the login."""
        core = self._pump.core
        if core is None or self._host_keys_announced or not self._transport.announce_host_keys:
            return
        self._host_keys_announced = True
        body = host_keys_announcement(self._plain_host_keys())
        if body:
            core.global_request(HOSTKEYS_ANNOUNCE, False, body)

    def _prove_host_keys(self, data: bytes) -> tuple[bool, bytes]:
        """Answer ``hostkeys-prove-00@openssh.com`` (see ``server_policy.prove_host_keys``)."""
        core = self._pump.core
        session_id = core.session_id if core is not None else None
        keys = self._plain_host_keys()
        return prove_host_keys(session_id, keys, self._host_key_algorithm() or "", data, self._pump.logger)

    # -- channels ----------------------------------------------------------------------

    def on_channel_open(self, e: ev.ChannelOpenRequested) -> None:
        policy = self.policy
        if e.kind == "direct-tcpip" and not policy.certificate_permits(PERMIT_PORT_FORWARDING):
            code = OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        elif e.kind == "direct-tcpip" and e.dest is not None and e.origin is not None:
            code = self._hook(
                "check_channel_direct_tcpip_request",
                OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
                e.chanid,
                e.origin,
                e.dest,
            )
        elif e.kind in ("session", "x11", "forwarded-tcpip", "auth-agent@openssh.com", "direct-tcpip"):
            code = self._hook("check_channel_request", OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, e.kind, e.chanid)
        else:
            code = self._hook("check_channel_request", OPEN_FAILED_UNKNOWN_CHANNEL_TYPE, e.kind, e.chanid)
        t = self._transport
        self._channels.finish_open(e, code, True, t.default_window_size, t.default_max_packet_size)

    def on_channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> None:
        """Ask the ServerInterface hook, then reply. Until the reply is queued,
        other threads writing to the channel wait (see ``Channel.begin_reply``),
        so a handler thread the hook started cannot overtake the reply."""
        core = self._pump.core
        assert core is not None
        if chan is not None:
            with self._lock:
                chan.begin_reply()
        ok = False
        try:
            ok = self._channel_request(chan, e)
        finally:
            with self._lock:
                if e.want_reply:
                    core.channel_request_reply(e.chanid, ok)
                if chan is not None:
                    chan.end_reply()
            if e.want_reply:
                self._pump.flush()

    def _channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> bool:
        if chan is None:
            return False
        a = e.args
        kind = e.kind
        forced = self.policy.forced_command()
        if forced is not None and kind in ("exec", "shell", "subsystem"):
            self._pump.logger.info("a forced command replaces the client's %s request", kind)
            chan.original_command = original_command(kind, a)
            return bool(self._hook("check_channel_exec_request", False, chan, forced.encode("utf-8")))
        if not self.policy.request_permitted(kind):
            return False
        if kind == "exec":
            return bool(self._hook("check_channel_exec_request", False, chan, a[0]))
        if kind == "shell":
            return bool(self._hook("check_channel_shell_request", False, chan))
        if kind == "subsystem":
            return bool(self._hook("check_channel_subsystem_request", False, chan, a[0]))
        if kind == "pty-req":
            # the terminal name and modes arrive as bytes, as paramiko hands them over
            return bool(self._hook("check_channel_pty_request", False, chan, *a))
        if kind == "window-change":
            return bool(self._hook("check_channel_window_change_request", False, chan, *a))
        if kind == "env":
            return bool(self._hook("check_channel_env_request", False, chan, *a))
        if kind == "x11-req":
            return bool(self._hook("check_channel_x11_request", False, chan, *a))
        if kind == "auth-agent-req@openssh.com":
            return bool(self._hook("check_channel_forward_agent_request", False, chan))
        return False

    # -- global requests -------------------------------------------------------------

    def global_request(self, e: ev.GlobalRequestReceived) -> tuple[bool, bytes]:
        """The answer to a client's global request: (success, reply data)."""
        m = Message(e.data, strict=True)
        if e.name == "tcpip-forward" and not self.policy.certificate_permits(PERMIT_PORT_FORWARDING):
            return False, b""
        if e.name == "tcpip-forward":
            address = m.get_text()
            port = m.get_int()
            bound = self._hook("check_port_forward_request", False, address, port)
            if bound is False or bound is None:
                return False, b""
            return True, (Message().add_int(int(bound)).asbytes() if port == 0 else b"")
        if e.name == HOSTKEYS_PROVE:
            return self._prove_host_keys(e.data)
        if e.name == "cancel-tcpip-forward":
            address = m.get_text()
            port = m.get_int()
            self._hook("cancel_port_forward_request", None, address, port)
            return True, b""
        ok = self._hook("check_global_request", False, e.name, m)
        if isinstance(ok, (tuple, list)):
            return True, Message().add(*ok).asbytes()
        return bool(ok), b""
