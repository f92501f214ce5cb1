from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from monitor.service.logs import Masker, configure_logging, settings_secrets


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def test_json_lines_carry_fields_and_mask_secrets(restore_root: None) -> None:
    stream = io.StringIO()
    secrets = settings_secrets({"SLACK": "https://hooks.example/T0/B0/s3cr3t"},
                               "postgresql+psycopg://dm:pa55word@db/dm")  # fmt: skip
    configure_logging("auto", "INFO", secrets, stream)  # not a terminal: JSON
    log = logging.getLogger("monitor.test")
    fields = {"job": "deliver", "url": "postgresql+psycopg://dm:pa55word@db/dm"}
    log.info("posting to %s", "https://hooks.example/T0/B0/s3cr3t", extra={"fields": fields})
    try:
        raise ValueError("password pa55word rejected")
    except ValueError:
        log.exception("job failed")
    log.debug("not shown at INFO")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (
        first["message"] == "posting to ***"
        and first["level"] == "INFO"
        and first["logger"] == "monitor.test"
    )
    assert (first["job"], first["url"]) == ("deliver", "postgresql+psycopg://dm:***@db/dm")
    assert "ValueError: password *** rejected" in second["error"]
    assert "s3cr3t" not in stream.getvalue() and "pa55word" not in stream.getvalue()


def test_text_on_a_terminal(restore_root: None) -> None:
    stream = Terminal()
    configure_logging("auto", "INFO", ["tok3n-value"], stream)
    logging.getLogger("monitor.service.jobs").info(
        "job score ok in 0.50s",
        extra={"fields": {"job": "score", "duration_s": 0.5, "counts": {"scored": 3}}},
    )
    line = stream.getvalue().strip()
    assert line.endswith("INFO  monitor.service.jobs: job score ok in 0.50s  job=score duration_s=0.5")
    assert not line.startswith("{")


def test_masker_masks_longest_first_and_ignores_tiny_values() -> None:
    mask = Masker(["abc", "secret", "secret-extended"])
    assert mask("secret-extended and secret and abc") == "*** and *** and abc"
    assert mask.deep({"a": ["secret", 1], "b": ("x",)}) == {"a": ["***", 1], "b": ["x"]}
