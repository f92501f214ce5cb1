"""`diplomonitor run` as a real subprocess, with its JSON log lines read as they come."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class ServiceProcess:
    """One `python -m monitor --config CONFIG run [ARGS]`, logging JSON lines to stderr."""

    def __init__(self, config: Path, *args: str, env: Mapping[str, str] | None = None):
        environ = {k: v for k, v in os.environ.items() if not k.startswith("DIPLOMONITOR_")}
        environ.update(env or {})
        environ["PYTHONUNBUFFERED"] = "1"
        self.command = [sys.executable, "-m", "monitor", "--config", str(config), "run", *args]
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            with contextlib.suppress(ValueError):  # not JSON (an interpreter crash): kept in .raw
                self.lines.append(json.loads(line))

    def records(self, **match: Any) -> list[dict[str, Any]]:
        """Log records whose fields equal `match`."""
        return [r for r in list(self.lines) if all(r.get(k) == v for k, v in match.items())]

    def runs(self, job: str | None = None, outcome: str = "ok") -> list[dict[str, Any]]:
        """The job-run lines (outcome ok or failed) of `job`, or of every job."""
        found = self.records(logger="monitor.service.jobs", outcome=outcome)
        return [r for r in found if job is None or r.get("job") == job]

    def wait_log(self, timeout: float = 60, what: str = "a log line", **match: Any) -> dict[str, Any]:
        """The first record matching `match`, waiting for it."""

        def found() -> dict[str, Any] | None:
            self._check_alive(what)
            hits = self.records(**match)
            return hits[0] if hits else None

        record: dict[str, Any] = wait_for(found, timeout, what)
        return record

    def wait(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """wait_for, failing with the service's last log lines (or at once if it exited)."""

        def check() -> Any:
            self._check_alive(what)
            return condition()

        try:
            return wait_for(check, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the service's last lines:\n{self.output()}") from None

    def _check_alive(self, what: str) -> None:
        if self.proc.poll() is not None:
            self._reader.join(5)
            raise AssertionError(f"service exited ({self.proc.returncode}) before {what}:\n{self.output()}")

    def started(self, timeout: float = 60) -> str:
        """Wait for the service to start; its health URL."""
        record = wait_for(
            lambda: self._check_alive("start") or next((r for r in self.lines if "health_url" in r), None),
            timeout, "the service to start",
        )  # fmt: skip
        return str(record["health_url"])

    def output(self) -> str:
        return "".join(self.raw[-200:])

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then the exit status (the test fails if it takes longer than `timeout`)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"service did not stop within {timeout}s:\n{self.output()}") from None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
