"""Fixtures for the agent tests: ssh-keygen key pairs and a real ssh-agent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_peer import KEYGEN_ARGS, KeyPair, RunningAgent, make_keypair, start_agent


@pytest.fixture(scope="session")
def keypairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """An ed25519, an ecdsa-256 and an rsa-2048 key pair, made once per session."""
    workdir = tmp_path_factory.mktemp("agentkeys")
    return {kind: make_keypair(workdir, kind) for kind in KEYGEN_ARGS}


@pytest.fixture(scope="module")
def real_agent(tmp_path_factory: pytest.TempPathFactory, keypairs: dict[str, KeyPair]) -> Iterator[RunningAgent]:
    """A real ssh-agent holding the three session key pairs."""
    with start_agent(tmp_path_factory.mktemp("agent"), keypairs) as running:
        yield running
