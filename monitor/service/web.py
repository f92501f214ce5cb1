"""HTTP for the service: a threaded WSGI server per address, and the gate in front of the dashboard.

`WebServer` is the standard library's WSGI server with a thread per request (what `/healthz`
and `/metrics` have always run on), bound when built so a taken address fails at once.

`Gate` decides who may do what, before any page runs:

- **Open** (no token, no proxy header configured): only on a loopback address, and only for
  requests whose `Host` is a loopback name, so a web page elsewhere cannot reach it through DNS
  rebinding. Everyone on the machine is admin, as they could run `diplomonitor alerts mute`.
- **Tokens** from the environment: DIPLOMONITOR_DASHBOARD_TOKEN (read-only role) and
  DIPLOMONITOR_DASHBOARD_ADMIN_TOKEN (admin: mute, unmute, acknowledge). Scripts send
  `Authorization: Bearer TOKEN`; people sign in once at /login and get a session cookie holding
  an HMAC of their role keyed by the token (never the token), HttpOnly and SameSite=Strict.
  Changing a token signs everyone out.
- **Trusted proxy header**: `[dashboard] proxy_user_header` names the header in which a reverse
  proxy that authenticated the person puts their name; it is believed only from
  `proxy_addresses`. `proxy_admins` are admin, anyone else the proxy names is read-only.

Any other bind address with neither tokens nor a proxy header is refused (`exposure`).

Every state change is a POST that needs the admin role and, unless it carries a bearer token
(which a browser never adds by itself), a CSRF token: the `dm_csrf` cookie (random, SameSite
=Strict) repeated in the form's `csrf` field, and an `Origin`, when sent, naming this host.
Every response gets a Content-Security-Policy without inline scripts or styles (the report
sets its own, with hashes) and headers against framing and MIME sniffing.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from monitor.errors import DashboardExposed

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
SESSION, CSRF = "dm_session", "dm_csrf"
ADMIN, READ = "admin", "read"
MAX_FORM = 64 * 1024
PUBLIC = ("/healthz", "/metrics", "/static/")  # health checks and assets need no sign-in


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) can only be reached from this machine."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Access:
    """Who may reach the dashboard and in which role (module doc)."""

    read_token: str | None = None
    admin_token: str | None = None
    proxy_header: str | None = None
    proxy_addresses: tuple[str, ...] = ("127.0.0.1", "::1")
    proxy_admins: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        return not (self.read_token or self.admin_token or self.proxy_header)

    def tokens(self) -> list[tuple[str, str]]:
        return [(role, t) for role, t in ((ADMIN, self.admin_token), (READ, self.read_token)) if t]


def exposure(address: str, access: Access) -> None:
    """Raise DashboardExposed, one line, when `address` is not loopback and nobody must sign in."""
    host = address.rpartition(":")[0]
    if access.open and not is_loopback(host):
        raise DashboardExposed(
            f"the dashboard would listen on {address} without authentication: set "
            "DIPLOMONITOR_DASHBOARD_TOKEN (read-only) and/or DIPLOMONITOR_DASHBOARD_ADMIN_TOKEN, or "
            "[dashboard] proxy_user_header, or bind it to 127.0.0.1 ([dashboard] address)"
        )


def session_value(role: str, token: str) -> str:
    """The session cookie of a role: the role and an HMAC of it keyed by the role's token."""
    mac = hmac.new(token.encode(), f"diplomonitor-dashboard:{role}".encode(), hashlib.sha256).hexdigest()
    return f"{role}.{mac}"


@dataclass(frozen=True, slots=True)
class Who:
    role: str
    user: str
    bearer: bool = False


class Gate:
    """WSGI middleware: authentication, roles, CSRF and security headers (module doc)."""

    def __init__(self, app: WSGIApp, access: Access):
        self.app, self.access = app, access

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
        cookies = _cookies(environ)
        csrf, new_csrf = cookies.get(CSRF), None
        if not csrf or len(csrf) != 43:
            csrf = new_csrf = secrets.token_urlsafe(32)
        extra = list(SECURITY_HEADERS)
        if new_csrf:
            extra.append(("Set-Cookie", f"{CSRF}={new_csrf}; Path=/; HttpOnly; SameSite=Strict"))

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            names = {k.lower() for k, _ in headers}
            added = [h for h in extra if h[0].lower() not in names or h[0] == "Set-Cookie"]
            if "content-security-policy" not in names:
                added.append(("Content-Security-Policy", CSP))
            timing = ("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}")
            return start_response(status, [*headers, *added, timing], exc_info)

        if self.access.open and not is_loopback(_host(environ)):
            return _plain(respond, "403 Forbidden", "this dashboard answers to localhost only\n")
        if path.startswith(PUBLIC):
            return self.app(environ, respond)
        form: dict[str, list[str]] = {}
        if method == "POST":
            form = _read_form(environ)
            if form is None:
                return _plain(respond, "413 Payload Too Large", "form too large\n")
        if path in ("/login", "/logout"):
            return self._sign_in(environ, respond, path, method, form, csrf, cookies)
        who = self.identify(environ, cookies)
        if who is None:
            return self._unauthorised(environ, respond, path, method)
        if method not in ("GET", "HEAD"):
            refused = self._refuse_change(environ, who, form, csrf)
            if refused:
                return _plain(respond, "403 Forbidden", refused + "\n")
        environ.update({"diplomonitor.role": who.role, "diplomonitor.user": who.user,
                        "diplomonitor.csrf": csrf, "diplomonitor.form": form,
                        "diplomonitor.can_sign_out": not self.access.open and not who.bearer})  # fmt: skip
        return self.app(environ, respond)

    def identify(self, environ: dict[str, Any], cookies: dict[str, str]) -> Who | None:
        """The role of a request, or None when it must sign in."""
        a = self.access
        if a.open:
            return Who(ADMIN, "local")
        if a.proxy_header:
            user = environ.get("HTTP_" + a.proxy_header.upper().replace("-", "_"), "").strip()
            if user and environ.get("REMOTE_ADDR") in a.proxy_addresses:
                return Who(ADMIN if user in a.proxy_admins else READ, user[:100])
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip().encode()
            for role, token in a.tokens():
                if hmac.compare_digest(given, token.encode()):
                    return Who(role, f"dashboard ({role} token)", bearer=True)
            return None
        session = cookies.get(SESSION, "")
        for role, token in a.tokens():
            if hmac.compare_digest(session.encode(), session_value(role, token).encode()):
                return Who(role, f"dashboard ({role} token)")
        return None

    def _refuse_change(self, environ: dict[str, Any], who: Who, form: dict[str, list[str]], csrf: str) -> str:
        if who.role != ADMIN:
            return "this needs the admin role (DIPLOMONITOR_DASHBOARD_ADMIN_TOKEN)"
        if who.bearer:
            return ""
        return _csrf_problem(environ, form, csrf)

    def _unauthorised(
        self, environ: dict[str, Any], respond: Callable[..., Any], path: str, method: str
    ) -> Any:
        accept = environ.get("HTTP_ACCEPT", "")
        if method == "GET" and "text/html" in accept and "format=" not in environ.get("QUERY_STRING", ""):
            target = path + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
            respond("303 See Other", [("Location", "/login?" + urlencode({"next": target})),
                                      ("Content-Length", "0")])  # fmt: skip
            return [b""]
        body = b"sign in: send Authorization: Bearer <token>, or open /login\n"
        respond("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                     ("WWW-Authenticate", 'Bearer realm="diplomonitor"'),
                                     ("Content-Length", str(len(body)))])  # fmt: skip
        return [body]

    def _sign_in(
        self, environ: dict[str, Any], respond: Callable[..., Any], path: str, method: str,
        form: dict[str, list[str]], csrf: str, cookies: dict[str, str],
    ) -> Any:  # fmt: skip
        query = parse_qs(environ.get("QUERY_STRING", ""))
        target = _local((form.get("next") or query.get("next") or ["/"])[0])
        if method == "GET":
            return _login_page(respond, csrf, target, "")
        problem = _csrf_problem(environ, form, csrf)
        if problem:
            return _plain(respond, "403 Forbidden", problem + "\n")
        if path == "/logout":
            cookie = f"{SESSION}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
            respond(
                "303 See Other", [("Location", "/login"), ("Set-Cookie", cookie), ("Content-Length", "0")]
            )
            return [b""]
        given = (form.get("token") or [""])[0].strip().encode()
        for role, token in self.access.tokens():
            if given and hmac.compare_digest(given, token.encode()):
                secure = "; Secure" if environ.get("wsgi.url_scheme") == "https" else ""
                cookie = f"{SESSION}={session_value(role, token)}; Path=/; HttpOnly; SameSite=Strict{secure}"
                respond(
                    "303 See Other", [("Location", target), ("Set-Cookie", cookie), ("Content-Length", "0")]
                )
                return [b""]
        return _login_page(respond, csrf, target, "That token is not valid here.", "401 Unauthorized")


def _csrf_problem(environ: dict[str, Any], form: dict[str, list[str]], csrf: str) -> str:
    origin = environ.get("HTTP_ORIGIN")
    if origin and origin.partition("://")[2] != _host_port(environ):
        return "CSRF check failed: this form was sent from another site"
    given = (form.get("csrf") or [""])[0]
    if not given or not hmac.compare_digest(given.encode(), csrf.encode()):
        return "CSRF check failed: reload the page and try again"
    return ""


def _cookies(environ: dict[str, Any]) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except Exception:  # a malformed Cookie header is no cookie
        return {}
    return {k: m.value for k, m in jar.items()}


def _host_port(environ: dict[str, Any]) -> str:
    return environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"


def _host(environ: dict[str, Any]) -> str:
    host = _host_port(environ)
    return host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]


def _local(target: str) -> str:
    """A redirect target on this site only."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _read_form(environ: dict[str, Any]) -> dict[str, list[str]] | None:
    """The url-encoded body (None when too large); the app reads it from `diplomonitor.form`."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_FORM:
        return None
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    if "application/x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _plain(respond: Callable[..., Any], status: str, text: str) -> list[bytes]:
    body = text.encode()
    respond(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def _login_page(respond: Callable[..., Any], csrf: str, target: str, message: str,
                status: str = "200 OK") -> list[bytes]:  # fmt: skip
    note = f'<p class="error">{escape(message)}</p>' if message else ""
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in · diplomonitor</title>'
        '<link rel="stylesheet" href="/static/dashboard.css"></head><body class="login"><main>'
        f"<h1>diplomonitor</h1>{note}"
        '<form method="post" action="/login"><label>Dashboard token <input type="password" name="token" '
        'autocomplete="current-password" autofocus required></label>'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="next" value="{escape(target)}"><button>Sign in</button></form>'
        "</main></body></html>"
    ).encode()
    respond(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


# ----------------------------------------------------------------------------------------------
# The server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class WebServer:
    """A WSGI app on HOST:PORT (port 0: any free port), one thread per request, on a thread of its own."""

    def __init__(self, address: str, app: WSGIApp, name: str = "http"):
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        server = _Server6 if ":" in host else _Server
        self.server = make_server(host, int(port), app, server_class=server, handler_class=_Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{f'[{host}]' if ':' in str(host) else host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


def dispatch(routes: Sequence[tuple[str, WSGIApp]], fallback: WSGIApp) -> WSGIApp:
    """The app of the first route whose path prefix matches, else `fallback`."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        for prefix, target in routes:
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                return target(environ, start_response)
        return fallback(environ, start_response)

    return app
