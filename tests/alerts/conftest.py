"""A hand-built set of posts whose every alert figure is worked out in the tests, and real
loopback servers standing in for Slack, webhooks and SMTP.

NOW is 2026-10-15 12:00 UTC; the 6-hour window is (06:00, 12:00]. Account 1 (FR, groups eu
and g7) posted four times in it plus one deleted post, account 2 (DE, eu) twice, account 3
(US, g7) last posted 80 hours ago. Account 1 also has six older posts for spikes and
overperformance; see the docstrings of the tests for the expected numbers.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine

from alerts.settings import ChannelSettings, Digest, Rule
from monitor.config import AlertsSettings, Secrets, Settings
from monitor.schema import accounts, engagement_snapshots, post_topics, posts, scores
from tests.conftest import NOW

H = dt.timedelta(hours=1)
LOOPBACK = "127.0.0.1"
HOSTILE = "Culture week <!channel> & <@U123> <script>alert(1)</script> <https://evil.example|click here>"

ACCOUNTS = [
    (1, "bluesky", "fr.bsky.social", "FR", ["eu", "g7"]),
    (2, "mastodon", "de@social.bund.de", "DE", ["eu"]),
    (3, "bluesky", "us.bsky.social", "US", ["g7"]),
]
# id, account, age, text, (likes, reposts, replies, quotes), sentiment (label, score) or None,
# topics, hashtags, deleted, snapshots as (hours after creation, total as likes)
POSTS: list[tuple[Any, ...]] = [
    (101, 1, 1 * H, HOSTILE, (10, 2, 0, 0), ("negative", -0.7), ["culture"], [], False, []),
    (102, 1, 2 * H, "Science <script>x</script>", (4, 0, 0, 0), ("positive", 0.6), ["science"], [], False,
     [(1, 30)]),
    (103, 1, 3 * H, "Trade talks #Diplomacy", (0, 0, 0, 0), ("negative", -0.5), ["economy", "culture"],
     ["Diplomacy"], False, [(1, 5), (2.5, 100)]),
    (104, 1, 5 * H, "<https://evil.example|click>", (5, 1, 1, None), ("neutral", 0.0), [], [], False, []),
    (105, 1, 1.5 * H, "deleted austausch", (1000, 0, 0, 0), ("negative", -0.9), ["culture"], [], True, []),
    (201, 2, 2 * H, "Wir fördern AUSTAUSCH", (20, 0, 0, None), ("positive", 0.8), ["culture"], [], False, []),
    (202, 2, 4 * H, "Sicherheit", (6, 0, 0, None), None, [], [], False, []),
    (301, 3, 80 * H, "Hello", (3, 0, 0, 0), ("neutral", 0.0), [], [], False, []),
    # account 1, older: one post 6-12 h ago, two 12-18 h, one 18-24 h, two 24-30 h
    (111, 1, 10 * H, "s1", (50, 0, 0, 0), None, [], [], False, [(1, 2), (3, 50)]),
    (112, 1, 14 * H, "s2", (4, 0, 0, 0), None, [], [], False, [(2, 4)]),
    (113, 1, 16 * H, "s3", (6, 0, 0, 0), None, [], [], False, [(0.5, 6)]),
    (114, 1, 20 * H, "s4", (8, 0, 0, 0), None, [], [], False, [(1, 8)]),
    (115, 1, 26 * H, "s5", (1, 0, 0, 0), None, [], [], False, []),
    (116, 1, 28 * H, "s6", (1, 0, 0, 0), None, [], [], False, []),
]  # fmt: skip


def seed(engine: Engine) -> None:
    """Insert the accounts and posts above."""
    made = NOW - dt.timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(accounts.insert(), [
            {"id": i, "platform": p, "handle": h, "country": c, "kind": "ministry", "groups": g,
             "active": True, "status": "ok", "created_at": made, "updated_at": made}
            for i, p, h, c, g in ACCOUNTS
        ])  # fmt: skip
        for pid, acct, age, text, counts, sentiment, topics, tags, deleted, snaps in POSTS:
            created = NOW - age
            platform, handle = ACCOUNTS[acct - 1][1:3]
            likes, reposts, replies, quotes = counts
            conn.execute(posts.insert().values(
                id=pid, account_id=acct, platform=platform, uri=f"at://{handle}/{pid}", author_handle=handle,
                url=f"https://example.org/{handle}/{pid}", text=text, created_at=created,
                collected_at=created, updated_at=created, likes=likes, reposts=reposts, replies=replies,
                quotes=quotes, hashtags=tags, deleted_at=NOW if deleted else None, is_repost=False,
                engagement_at=NOW,  # every post was observed just now (its counts are current)
            ))  # fmt: skip
            if sentiment:
                label, score = sentiment
                neg = {"negative": 0.8, "neutral": 0.1, "positive": 0.05}[label]
                conn.execute(scores.insert().values(
                    post_id=pid, scored_with="test", scored_at=NOW, sentiment_label=label,
                    sentiment_score=score, sentiment_negative=neg, topics={t: 0.9 for t in topics},
                ))  # fmt: skip
            for t in topics:
                conn.execute(post_topics.insert().values(post_id=pid, topic=t, score=0.9))
            for hours, total in snaps:
                conn.execute(engagement_snapshots.insert().values(
                    post_id=pid, observed_at=created + dt.timedelta(hours=hours), likes=total,
                    reposts=0, replies=0, quotes=0,
                ))  # fmt: skip


@pytest.fixture
def world(engine: Engine) -> Engine:
    seed(engine)
    return engine


def rule(**kw: Any) -> Rule:
    """A rule with test defaults: a 6-hour window, no cooldown."""
    base: dict[str, Any] = {"name": "r", "metric": "post_count", "threshold": 1.0, "window_hours": 6.0,
                            "cooldown_hours": 0.0}  # fmt: skip
    return Rule(**{**base, **kw})


def settings(
    rules: tuple[Rule, ...] = (),
    channels: tuple[ChannelSettings, ...] = (),
    secrets: dict[str, str] | None = None,
    digests: tuple[Digest, ...] = (),
    **alerts: Any,
) -> Settings:
    """Settings holding only what the alerts need."""
    return Settings(
        path=Path("/nonexistent/diplomonitor.toml"),
        database_url="sqlite://",
        alerts=AlertsSettings(rules=rules, channels=channels, digests=digests, **alerts),
        secrets=Secrets(secrets or {}),
    )


# --- a loopback HTTP receiver standing in for Slack and webhooks -----------------------------


@dataclass
class Receiver:
    """Records every POST; answers with `status` (change it to take the channel down)."""

    url: str
    status: int = 200
    body: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def json(self, i: int = -1) -> Any:
        return json.loads(self.requests[i]["body"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            r = state["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            r.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(r.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(r.body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/secret-token")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()


# --- a real SMTP server (aiosmtpd) on loopback, plain, STARTTLS or SSL, with login -------------


@dataclass
class Mailbox:
    port: int
    cert: Path | None
    messages: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )  # fmt: skip
    return folder / "cert.pem", folder / "key.pem"


def _authenticator(box: Mailbox) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"monitor", b"s3cret")
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    return check


@pytest.fixture(params=["starttls", "ssl"])
def smtp(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[tuple[str, Mailbox]]:
    """A TLS SMTP server requiring login monitor / s3cret; yields (security, mailbox)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    box = Mailbox(free_port(), certificate[0])
    kw: dict[str, Any] = {"authenticator": _authenticator(box), "auth_required": True}
    if request.param == "ssl":
        # aiosmtpd does not count implicit TLS as TLS for AUTH: offer AUTH without requiring it
        # (the tests check the login happened through `box.logins`).
        kw.update(ssl_context=context, auth_require_tls=False, auth_required=False)
    else:
        kw.update(tls_context=context, require_starttls=True)
    controller = Controller(box, hostname=LOOPBACK, port=box.port, **kw)
    controller.start()
    yield request.param, box
    controller.stop()


def email_channel(security: str, box: Mailbox, **kw: Any) -> ChannelSettings:
    values: dict[str, Any] = {
        "name": "mail", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": box.port,
        "security": security, "username": "monitor", "password_env": "SMTP_PASSWORD",
        "sender": "diplomonitor@example.org", "recipients": ("press@example.org", "desk@example.org"),
        "ca_file": str(box.cert) if box.cert else None, "timeout_seconds": 5.0,
    }  # fmt: skip
    return ChannelSettings(**{**values, **kw})
