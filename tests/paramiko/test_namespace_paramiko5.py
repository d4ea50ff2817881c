"""The paramiko 5.x namespace beyond 1.5: the version pip sees, the submodules
code imports (common, util, auth_handler, auth_strategy, pipe, buffered_pipe,
packet) and the names it takes from them."""

from __future__ import annotations

import importlib
from importlib import metadata

import pytest

import paramiko

# Names paramiko 5.1's modules have that user code and downstream packages use.
COMMON = [
    "AUTH_FAILED",
    "AUTH_PARTIALLY_SUCCESSFUL",
    "AUTH_SUCCESSFUL",
    "CONNECTION_FAILED_CODE",
    "CRITICAL",
    "DEBUG",
    "DEFAULT_MAX_PACKET_SIZE",
    "DEFAULT_WINDOW_SIZE",
    "DISCONNECT_AUTH_CANCELLED_BY_USER",
    "DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE",
    "DISCONNECT_SERVICE_NOT_AVAILABLE",
    "ERROR",
    "HIGHEST_USERAUTH_MESSAGE_ID",
    "INFO",
    "MAX_WINDOW_SIZE",
    "MIN_PACKET_SIZE",
    "MIN_WINDOW_SIZE",
    "MSG_CHANNEL_OPEN_SUCCESS",
    "MSG_NAMES",
    "MSG_USERAUTH_GSSAPI_ERROR",
    "MSG_USERAUTH_GSSAPI_ERRTOK",
    "MSG_USERAUTH_GSSAPI_EXCHANGE_COMPLETE",
    "MSG_USERAUTH_GSSAPI_MIC",
    "MSG_USERAUTH_GSSAPI_TOKEN",
    "WARNING",
    "byte_chr",
    "byte_mask",
    "byte_ord",
    "cMSG_CHANNEL_CLOSE",
    "cMSG_CHANNEL_DATA",
    "cMSG_CHANNEL_EOF",
    "cMSG_CHANNEL_EXTENDED_DATA",
    "cMSG_CHANNEL_FAILURE",
    "cMSG_CHANNEL_OPEN",
    "cMSG_CHANNEL_OPEN_FAILURE",
    "cMSG_CHANNEL_OPEN_SUCCESS",
    "cMSG_CHANNEL_REQUEST",
    "cMSG_CHANNEL_SUCCESS",
    "cMSG_CHANNEL_WINDOW_ADJUST",
    "cMSG_DEBUG",
    "cMSG_DISCONNECT",
    "cMSG_EXT_INFO",
    "cMSG_GLOBAL_REQUEST",
    "cMSG_IGNORE",
    "cMSG_KEXINIT",
    "cMSG_NEWKEYS",
    "cMSG_REQUEST_FAILURE",
    "cMSG_REQUEST_SUCCESS",
    "cMSG_SERVICE_ACCEPT",
    "cMSG_SERVICE_REQUEST",
    "cMSG_UNIMPLEMENTED",
    "cMSG_USERAUTH_BANNER",
    "cMSG_USERAUTH_FAILURE",
    "cMSG_USERAUTH_INFO_REQUEST",
    "cMSG_USERAUTH_INFO_RESPONSE",
    "cMSG_USERAUTH_PK_OK",
    "cMSG_USERAUTH_REQUEST",
    "cMSG_USERAUTH_SUCCESS",
    "cr_byte",
    "cr_byte_value",
    "crlf",
    "four_byte",
    "io_sleep",
    "linefeed_byte",
    "linefeed_byte_value",
    "max_byte",
    "o600",
    "o644",
    "o660",
    "o666",
    "o70",
    "o700",
    "o777",
    "one_byte",
    "x80000000",
    "xffffffff",
    "zero_byte",
]

UTIL = [
    "ClosingContextManager",
    "DEBUG",
    "PFilter",
    "SSHConfig",
    "asbytes",
    "b",
    "bit_length",
    "byte_chr",
    "byte_ord",
    "clamp_value",
    "constant_time_bytes_eq",
    "deflate_long",
    "format_binary",
    "format_binary_line",
    "generate_key_bytes",
    "get_logger",
    "get_thread_id",
    "inflate_long",
    "load_host_keys",
    "log_to_file",
    "lookup_ssh_host_config",
    "max_byte",
    "parse_ssh_config",
    "safe_string",
    "tb_strings",
    "u",
    "xffffffff",
    "zero_byte",
]

AUTH_HANDLER = [
    "AUTH_FAILED",
    "AUTH_PARTIALLY_SUCCESSFUL",
    "AUTH_SUCCESSFUL",
    "AuthenticationException",
    "BadAuthenticationType",
    "InteractiveQuery",
    "Message",
    "PartialAuthentication",
    "SSHException",
    "MSG_USERAUTH_REQUEST",
    "cMSG_USERAUTH_REQUEST",
]

TOP_LEVEL = [
    "AuthFailure",
    "AuthResult",
    "AuthSource",
    "AuthStrategy",
    "InMemoryPrivateKey",
    "NoneAuth",
    "OnDiskPrivateKey",
    "Packetizer",
    "Password",
    "PrivateKey",
    "PublicBlob",
    "ServiceRequestingTransport",
    "SourceResult",
    "UnknownKeyType",
    "auth_strategy",
    "buffered_pipe",
    "io_sleep",
    "key_classes",
    "packet",
    "pipe",
]


@pytest.mark.parametrize(
    ("module", "names"),
    [("common", COMMON), ("util", UTIL), ("auth_handler", AUTH_HANDLER)],
)
def test_submodule_has_paramikos_names(module: str, names: list[str]) -> None:
    mod = importlib.import_module(f"paramiko.{module}")
    assert [n for n in names if not hasattr(mod, n)] == []


def test_top_level_has_paramiko5_names() -> None:
    assert [n for n in TOP_LEVEL if not hasattr(paramiko, n)] == []


def test_common_values_are_paramikos() -> None:
    from paramiko import common

    assert (common.o600, common.o644, common.o777, common.o70) == (0o600, 0o644, 0o777, 0o70)
    assert common.cMSG_KEXINIT == b"\x14" and common.cMSG_CHANNEL_DATA == b"^"
    assert common.MSG_NAMES[common.MSG_KEXINIT] == "kexinit"
    assert common.MSG_NAMES[common.MSG_CHANNEL_DATA] == "channel-data"
    assert common.CONNECTION_FAILED_CODE[common.OPEN_FAILED_CONNECT_FAILED] == "Connect failed"
    assert (common.MIN_WINDOW_SIZE, common.MIN_PACKET_SIZE) == (32768, 4096)
    assert (common.zero_byte, common.max_byte, common.crlf) == (b"\x00", b"\xff", b"\r\n")
    assert common.byte_mask(0x1FF, 0xFF) == b"\xff" and common.byte_ord(b"A"[0]) == 65


def test_auth_handler_exceptions_are_the_shared_classes() -> None:
    """``from paramiko.auth_handler import AuthenticationException`` is how
    many scripts catch login failures: it must be the class we raise."""
    from paramiko.auth_handler import AuthenticationException, SSHException

    assert AuthenticationException is paramiko.AuthenticationException
    assert SSHException is paramiko.SSHException
    assert not hasattr(paramiko.auth_handler, "AuthHandler")  # internals: not imitated


def test_submodule_aliases_are_the_layer_modules() -> None:
    from paramiko.buffered_pipe import BufferedPipe, PipeTimeout
    from paramiko.packet import Packetizer
    from paramiko.pipe import make_pipe

    assert Packetizer is paramiko.Packetizer
    assert issubclass(PipeTimeout, OSError)
    assert callable(make_pipe) and BufferedPipe().empty() == b""


def test_version_satisfies_downstream_paramiko_requirements() -> None:
    """5.1.0.N: the distribution's version, read by pip, is what makes
    ``pip install fabric`` keep this package instead of fetching paramiko."""
    assert paramiko.__version__ == metadata.version("paramiko")
    assert paramiko.__version__.startswith("5.1.0.")
    assert paramiko.__version_info__[:3] == (5, 1, 0)
    assert paramiko.__version_info__ >= (3, 4)  # Fabric 3's and sshtunnel's floors are lower
