"""The interop harness itself: its skip reason without npm, and the port check after a stop."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from tests.interop import peers


def test_without_npm_the_reason_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    with pytest.raises(peers.Unavailable) as why:
        peers.node_binary(tmp_path / "cache")
    assert str(why.value) == "npm is not installed: the Bluesky reference stack needs Node 22 from npm"
    assert not (tmp_path / "cache").exists()


def test_the_cache_is_outside_the_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert peers.cache_root() == tmp_path / "diplomonitor-peers"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert peers.cache_root() == Path.home() / ".cache" / "diplomonitor-peers"


def test_a_stopped_group_leaves_no_port_open(tmp_path: Path) -> None:
    """A child that listens and ignores stdin is ended with its group; its port is closed after."""
    script = (
        "import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = peers.spawn("listener", [sys.executable, "-c", script], cwd=tmp_path, env=dict(os.environ),
                       log=tmp_path / "log", ready_on="stdout", ready_when=r"^\d+$")  # fmt: skip
    port = int(proc.wait_ready())
    assert proc.ports == {port} and peers.open_ports({port}) == {port}
    proc.stop()
    assert peers.open_ports({port}) == set()
    with socket.create_server(("127.0.0.1", port)):  # free again
        pass
