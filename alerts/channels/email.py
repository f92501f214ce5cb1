"""Email over SMTP: STARTTLS, SSL or plain, with login; multipart plain text and HTML.

All text that is not ours is HTML-escaped in the HTML part, post text sits in blocks with
`dir="auto"` (Arabic and Persian read right to left, and cannot reorder what follows);
links are kept only for http(s) URLs. The Message-ID derives from the message key, so a
repeat can be recognised; the Date is UTC written `+0000` (RFC 5322: `-0000` would mean
"local time unknown").
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape

from alerts.errors import ChannelUnavailable, DeliveryRejected
from alerts.messages import Message, PostRef, clean, safe_url
from alerts.settings import ChannelSettings

log = logging.getLogger(__name__)
COLOURS = {"critical": "#b00020", "warning": "#b26a00", "info": "#1f5fa8"}


def _h(text: str) -> str:
    return escape(clean(text))


def plain_body(message: Message) -> str:
    """The text/plain part."""
    title = clean(message.headline())
    lines = [title, "=" * min(len(title), 78), ""]
    lines += [f"{clean(label)}: {clean(value)}" for label, value in message.facts]
    for s in message.sections:
        lines += ["", clean(s.heading), "-" * min(len(s.heading), 78)]
        lines += [f"- {clean(line)}" for line in s.lines]
        for p in s.posts:
            lines.append("- " + clean(" · ".join([p.byline(), *p.details(message.timezone)])))
            lines += [f"  {url}" for url in (safe_url(p.url), safe_url(p.profile_url)) if url]
            lines.append(f"  {clean(p.text)}")
    links = [(label, url) for label, url in message.links if safe_url(url)]
    if links:
        lines += ["", "Look next", "---------"] + [f"- {clean(label)}: {url}" for label, url in links]
    if message.mute:
        lines += ["", f"To mute: {clean(message.mute)}"]
    return "\n".join(lines) + "\n"


def _html_post(p: PostRef, timezone: str) -> str:
    url = safe_url(p.url)
    who = f'<a href="{escape(url, quote=True)}">{_h(p.byline())}</a>' if url else _h(p.byline())
    rest = "".join(f" · {_h(d)}" for d in p.details(timezone))
    profile = safe_url(p.profile_url)
    if profile:
        rest += f' · <a href="{escape(profile, quote=True)}">recent posts</a>'
    return (
        f'<li style="margin:0 0 12px"><div dir="auto" style="color:#555;font-size:13px">{who}{rest}</div>'
        f'<blockquote dir="auto" style="margin:4px 0 0;padding:0 8px;border-left:3px solid #ccc;'
        f'border-right:3px solid #ccc">{_h(p.text)}</blockquote></li>'
    )


def html_body(message: Message) -> str:
    """The text/html part, every piece of text escaped."""
    colour = COLOURS.get(message.severity, "#333")
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{_h(k)}</th><td dir="auto">{_h(v)}</td></tr>'
        for k, v in message.facts
    )
    parts = [
        '<!DOCTYPE html><html><body style="font-family:sans-serif;max-width:720px">',
        f'<h2 style="color:{colour}">{_h(message.symbol() + " " + message.headline())}</h2>',
        f"<table>{rows}</table>" if rows else "",
    ]
    for s in message.sections:
        parts.append(f"<h3>{_h(s.heading)}</h3>")
        if s.lines:
            parts.append("<ul>" + "".join(f'<li dir="auto">{_h(line)}</li>' for line in s.lines) + "</ul>")
        if s.posts:
            posts = "".join(_html_post(p, message.timezone) for p in s.posts)
            parts.append(f'<ul style="list-style:none;padding:0">{posts}</ul>')
    links = [
        f'<a href="{escape(url, quote=True)}">{_h(label)}</a>'
        for label, url in message.links
        if safe_url(url)
    ]
    if links:
        parts.append("<p>Look next: " + " · ".join(links) + "</p>")
    if message.mute:
        parts.append(f"<p>To mute: <code>{_h(message.mute)}</code></p>")
    parts.append('<p style="color:#888;font-size:12px">sent by diplomonitor</p></body></html>')
    return "".join(parts)


def subject(message: Message) -> str:
    """The Subject: a tag a mail filter can sort on ([critical], [resolved]...), then the title."""
    tag = "resolved" if message.kind == "resolve" else message.severity
    return " ".join(clean(f"[{tag}] {message.title}").split())


def build_email(
    message: Message, sender: str, recipients: tuple[str, ...], now: datetime | None = None
) -> EmailMessage:
    """A multipart/alternative email for `message`, dated `now` (UTC)."""
    mail = EmailMessage()
    mail["Subject"] = subject(message)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    key = hashlib.sha256((message.key or message.title).encode("utf-8", "replace")).hexdigest()[:32]
    mail["Message-ID"] = f"<{key}@diplomonitor>"
    mail.set_content(plain_body(message))
    mail.add_alternative(html_body(message), subtype="html")
    return mail


class EmailChannel:
    """Sends through one SMTP server to the channel's recipients."""

    def __init__(self, settings: ChannelSettings, password: str | None):
        self.name, self.settings, self._password = settings.name, settings, password

    def send(self, message: Message) -> None:
        s = self.settings
        mail = build_email(message, s.sender or "", s.recipients)
        if s.username and not self._password:
            raise ChannelUnavailable(f"environment variable {s.password_env} is not set (SMTP password)")
        try:
            with self._connect() as smtp:
                if s.username:
                    smtp.login(s.username, self._password or "")
                refused = smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryRejected(f"SMTP login refused: {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryRejected(f"every recipient refused: {sorted(exc.recipients)}") from None
        except smtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise (ChannelUnavailable if exc.smtp_code < 500 else DeliveryRejected)(detail) from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS, disconnect
            raise ChannelUnavailable(f"{exc.__class__.__name__}: {exc}") from None
        if refused:
            log.warning("channel %s: recipients refused: %s", self.name, sorted(refused))

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        host = s.smtp_host or ""
        context = ssl.create_default_context(cafile=s.ca_file) if s.security != "none" else None
        if s.security == "ssl":
            return smtplib.SMTP_SSL(host, s.smtp_port, timeout=s.timeout_seconds, context=context)
        smtp = smtplib.SMTP(host, s.smtp_port, timeout=s.timeout_seconds)
        if s.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def __repr__(self) -> str:
        return f"EmailChannel({self.name!r}, {self.settings.smtp_host}:{self.settings.smtp_port})"
