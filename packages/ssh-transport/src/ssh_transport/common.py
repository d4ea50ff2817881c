"""Every constant and byte helper ``paramiko.common`` has, for code written against it.

The protocol numbers themselves live in :mod:`ssh_transport.protocol.constants`
(and the disconnect reasons in ``ssh_wire``); this module adds the spellings
paramiko users import from ``paramiko.common``: one-byte message codes
(``cMSG_*``), byte and permission constants, logging levels and the window
and packet floors. Nothing in the library depends on it.
"""

from __future__ import annotations

import logging  # noqa: F401 (paramiko.common.logging)
from logging import CRITICAL, DEBUG, ERROR, INFO, WARNING  # noqa: F401 (paramiko.common's names)

from ssh_wire import (  # noqa: F401 (paramiko.common's names)
    DISCONNECT_AUTH_CANCELLED_BY_USER,
    DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
    DISCONNECT_SERVICE_NOT_AVAILABLE,
    byte_chr,
    byte_mask,
    byte_ord,
    cr_byte,
    cr_byte_value,
    crlf,
    four_byte,
    linefeed_byte,
    linefeed_byte_value,
    max_byte,
    one_byte,
    xffffffff,
    zero_byte,
)

from .protocol.constants import *  # noqa: F403 (re-exported as paramiko.common's names)
from .protocol.constants import (
    MSG_CHANNEL_CLOSE,
    MSG_CHANNEL_DATA,
    MSG_CHANNEL_EOF,
    MSG_CHANNEL_EXTENDED_DATA,
    MSG_CHANNEL_FAILURE,
    MSG_CHANNEL_OPEN,
    MSG_CHANNEL_OPEN_CONFIRMATION,
    MSG_CHANNEL_OPEN_FAILURE,
    MSG_CHANNEL_REQUEST,
    MSG_CHANNEL_SUCCESS,
    MSG_CHANNEL_WINDOW_ADJUST,
    MSG_DEBUG,
    MSG_DISCONNECT,
    MSG_EXT_INFO,
    MSG_GLOBAL_REQUEST,
    MSG_IGNORE,
    MSG_KEXINIT,
    MSG_NEWKEYS,
    MSG_REQUEST_FAILURE,
    MSG_REQUEST_SUCCESS,
    MSG_SERVICE_ACCEPT,
    MSG_SERVICE_REQUEST,
    MSG_UNIMPLEMENTED,
    MSG_USERAUTH_BANNER,
    MSG_USERAUTH_FAILURE,
    MSG_USERAUTH_GSSAPI_RESPONSE,
    MSG_USERAUTH_INFO_REQUEST,
    MSG_USERAUTH_INFO_RESPONSE,
    MSG_USERAUTH_PK_OK,
    MSG_USERAUTH_REQUEST,
    MSG_USERAUTH_SUCCESS,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_CONNECT_FAILED,
    OPEN_FAILED_RESOURCE_SHORTAGE,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
)

# paramiko's name for CHANNEL_OPEN_CONFIRMATION, and the GSS-API user-auth
# messages (RFC 4462), which this library does not implement but names.
MSG_CHANNEL_OPEN_SUCCESS = MSG_CHANNEL_OPEN_CONFIRMATION
MSG_USERAUTH_GSSAPI_TOKEN = 61
MSG_USERAUTH_GSSAPI_EXCHANGE_COMPLETE = 63
MSG_USERAUTH_GSSAPI_ERROR = 64
MSG_USERAUTH_GSSAPI_ERRTOK = 65
MSG_USERAUTH_GSSAPI_MIC = 66
HIGHEST_USERAUTH_MESSAGE_ID = 79


cMSG_DISCONNECT = byte_chr(MSG_DISCONNECT)
cMSG_IGNORE = byte_chr(MSG_IGNORE)
cMSG_UNIMPLEMENTED = byte_chr(MSG_UNIMPLEMENTED)
cMSG_DEBUG = byte_chr(MSG_DEBUG)
cMSG_SERVICE_REQUEST = byte_chr(MSG_SERVICE_REQUEST)
cMSG_SERVICE_ACCEPT = byte_chr(MSG_SERVICE_ACCEPT)
cMSG_EXT_INFO = byte_chr(MSG_EXT_INFO)
cMSG_KEXINIT = byte_chr(MSG_KEXINIT)
cMSG_NEWKEYS = byte_chr(MSG_NEWKEYS)
cMSG_USERAUTH_REQUEST = byte_chr(MSG_USERAUTH_REQUEST)
cMSG_USERAUTH_FAILURE = byte_chr(MSG_USERAUTH_FAILURE)
cMSG_USERAUTH_SUCCESS = byte_chr(MSG_USERAUTH_SUCCESS)
cMSG_USERAUTH_BANNER = byte_chr(MSG_USERAUTH_BANNER)
cMSG_USERAUTH_PK_OK = byte_chr(MSG_USERAUTH_PK_OK)
cMSG_USERAUTH_INFO_REQUEST = byte_chr(MSG_USERAUTH_INFO_REQUEST)
cMSG_USERAUTH_INFO_RESPONSE = byte_chr(MSG_USERAUTH_INFO_RESPONSE)
cMSG_USERAUTH_GSSAPI_RESPONSE = byte_chr(MSG_USERAUTH_GSSAPI_RESPONSE)
cMSG_USERAUTH_GSSAPI_TOKEN = byte_chr(MSG_USERAUTH_GSSAPI_TOKEN)
cMSG_USERAUTH_GSSAPI_EXCHANGE_COMPLETE = byte_chr(MSG_USERAUTH_GSSAPI_EXCHANGE_COMPLETE)
cMSG_USERAUTH_GSSAPI_ERROR = byte_chr(MSG_USERAUTH_GSSAPI_ERROR)
cMSG_USERAUTH_GSSAPI_ERRTOK = byte_chr(MSG_USERAUTH_GSSAPI_ERRTOK)
cMSG_USERAUTH_GSSAPI_MIC = byte_chr(MSG_USERAUTH_GSSAPI_MIC)
cMSG_GLOBAL_REQUEST = byte_chr(MSG_GLOBAL_REQUEST)
cMSG_REQUEST_SUCCESS = byte_chr(MSG_REQUEST_SUCCESS)
cMSG_REQUEST_FAILURE = byte_chr(MSG_REQUEST_FAILURE)
cMSG_CHANNEL_OPEN = byte_chr(MSG_CHANNEL_OPEN)
cMSG_CHANNEL_OPEN_SUCCESS = byte_chr(MSG_CHANNEL_OPEN_SUCCESS)
cMSG_CHANNEL_OPEN_FAILURE = byte_chr(MSG_CHANNEL_OPEN_FAILURE)
cMSG_CHANNEL_WINDOW_ADJUST = byte_chr(MSG_CHANNEL_WINDOW_ADJUST)
cMSG_CHANNEL_DATA = byte_chr(MSG_CHANNEL_DATA)
cMSG_CHANNEL_EXTENDED_DATA = byte_chr(MSG_CHANNEL_EXTENDED_DATA)
cMSG_CHANNEL_EOF = byte_chr(MSG_CHANNEL_EOF)
cMSG_CHANNEL_CLOSE = byte_chr(MSG_CHANNEL_CLOSE)
cMSG_CHANNEL_REQUEST = byte_chr(MSG_CHANNEL_REQUEST)
cMSG_CHANNEL_SUCCESS = byte_chr(MSG_CHANNEL_SUCCESS)
cMSG_CHANNEL_FAILURE = byte_chr(MSG_CHANNEL_FAILURE)


def _message_names() -> dict[int, str]:
    """Number -> log name: the RFC name in lower case with dashes; key-exchange
    numbers (30-49) are reused per method, so they are named by number."""
    names = {
        number: name[4:].lower().replace("_", "-")
        for name, number in sorted(globals().items(), reverse=True)
        if name.startswith("MSG_") and isinstance(number, int)
    }
    for number in range(30, 50):
        if number in names:
            names[number] = f"kex{number}"
    names[MSG_USERAUTH_GSSAPI_RESPONSE] = "userauth-gssapi-response"
    names[MSG_USERAUTH_GSSAPI_TOKEN] = "userauth-gssapi-token"
    names[MSG_USERAUTH_GSSAPI_ERRTOK] = "userauth-gssapi-error-token"
    return names


MSG_NAMES = _message_names()

CONNECTION_FAILED_CODE = {
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED: "Administratively prohibited",
    OPEN_FAILED_CONNECT_FAILED: "Connect failed",
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE: "Unknown channel type",
    OPEN_FAILED_RESOURCE_SHORTAGE: "Resource shortage",
}

x80000000 = 0x80000000

# File modes under paramiko's names.
o666 = 0o666
o660 = 0o660
o644 = 0o644
o600 = 0o600
o777 = 0o777
o700 = 0o700
o70 = 0o70

# The smallest window and packet size a peer may announce before we treat it
# as hostile, and paramiko's polling interval for its blocking loops.
MIN_WINDOW_SIZE = 2**15
MIN_PACKET_SIZE = 2**12
io_sleep = 0.01
