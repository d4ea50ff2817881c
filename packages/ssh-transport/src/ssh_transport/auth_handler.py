"""The names code imports from ``paramiko.auth_handler``.

Scripts written against paramiko commonly catch authentication errors with
``from paramiko.auth_handler import AuthenticationException, SSHException``;
this module gives them those names (the same classes as everywhere else) and
the user-auth constants paramiko's module carries.

paramiko's ``AuthHandler``/``AuthOnlyHandler`` classes, its internal user-auth
state machine, are not provided: here user authentication is part of the
protocol core (``ssh_transport.protocol.userauth``) and is driven through
``Transport.auth_*`` and ``paramiko.auth_strategy``. Code that patches
``AuthHandler`` internals has nothing to patch and gets an ``ImportError``
rather than a look-alike that would silently ignore it.
"""

from __future__ import annotations

from ssh_wire import (
    AuthenticationException,
    BadAuthenticationType,
    Message,
    PartialAuthentication,
    SSHException,
    UnableToAuthenticate,
    b,
    u,
)

from .common import (
    AUTH_FAILED,
    AUTH_PARTIALLY_SUCCESSFUL,
    AUTH_SUCCESSFUL,
    DEBUG,
    DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
    DISCONNECT_SERVICE_NOT_AVAILABLE,
    INFO,
    MSG_SERVICE_ACCEPT,
    MSG_SERVICE_REQUEST,
    MSG_USERAUTH_BANNER,
    MSG_USERAUTH_FAILURE,
    MSG_USERAUTH_INFO_REQUEST,
    MSG_USERAUTH_INFO_RESPONSE,
    MSG_USERAUTH_REQUEST,
    MSG_USERAUTH_SUCCESS,
    WARNING,
    cMSG_DISCONNECT,
    cMSG_SERVICE_ACCEPT,
    cMSG_SERVICE_REQUEST,
    cMSG_USERAUTH_BANNER,
    cMSG_USERAUTH_FAILURE,
    cMSG_USERAUTH_INFO_REQUEST,
    cMSG_USERAUTH_INFO_RESPONSE,
    cMSG_USERAUTH_PK_OK,
    cMSG_USERAUTH_REQUEST,
    cMSG_USERAUTH_SUCCESS,
)
from .server import InteractiveQuery

__all__ = [
    "AUTH_FAILED",
    "AUTH_PARTIALLY_SUCCESSFUL",
    "AUTH_SUCCESSFUL",
    "DEBUG",
    "DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE",
    "DISCONNECT_SERVICE_NOT_AVAILABLE",
    "INFO",
    "MSG_SERVICE_ACCEPT",
    "MSG_SERVICE_REQUEST",
    "MSG_USERAUTH_BANNER",
    "MSG_USERAUTH_FAILURE",
    "MSG_USERAUTH_INFO_REQUEST",
    "MSG_USERAUTH_INFO_RESPONSE",
    "MSG_USERAUTH_REQUEST",
    "MSG_USERAUTH_SUCCESS",
    "WARNING",
    "AuthenticationException",
    "BadAuthenticationType",
    "InteractiveQuery",
    "Message",
    "PartialAuthentication",
    "SSHException",
    "UnableToAuthenticate",
    "b",
    "cMSG_DISCONNECT",
    "cMSG_SERVICE_ACCEPT",
    "cMSG_SERVICE_REQUEST",
    "cMSG_USERAUTH_BANNER",
    "cMSG_USERAUTH_FAILURE",
    "cMSG_USERAUTH_INFO_REQUEST",
    "cMSG_USERAUTH_INFO_RESPONSE",
    "cMSG_USERAUTH_PK_OK",
    "cMSG_USERAUTH_REQUEST",
    "cMSG_USERAUTH_SUCCESS",
    "u",
]
