"""Email over SMTP: STARTTLS, SSL or plain, with login; multipart plain text and HTML.

All text that is not ours is HTML-escaped in the HTML part; links are kept only for http(s)
URLs. The Message-ID derives from the message key, so a repeat can be recognised.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from html import escape

from alerts.errors import ChannelUnavailable, DeliveryRejected
from alerts.messages import Message, PostRef, safe_url
from alerts.settings import Channel

log = logging.getLogger(__name__)
COLOURS = {"critical": "#b00020", "warning": "#b26a00", "info": "#1f5fa8"}


def plain_body(message: Message) -> str:
    """The text/plain part."""
    lines = [message.title, "=" * min(len(message.title), 78), ""]
    lines += [f"{label}: {value}" for label, value in message.facts]
    for s in message.sections:
        lines += ["", s.heading, "-" * min(len(s.heading), 78)]
        lines += [f"- {line}" for line in s.lines]
        for p in s.posts:
            lines += [f"- {_meta(p)}" + (f" {p.url}" if safe_url(p.url) else ""), f"  {p.text}"]
    return "\n".join(lines) + "\n"


def _meta(p: PostRef) -> str:
    parts = [p.author]
    if p.created_at:
        parts.append(p.created_at[:16].replace("T", " ") + " UTC")
    if p.engagement is not None:
        parts.append(f"{p.engagement} interactions")
    if p.note:
        parts.append(p.note)
    return " · ".join(parts)


def _html_post(p: PostRef) -> str:
    url = safe_url(p.url)
    author = escape(p.author)
    who = f'<a href="{escape(url, quote=True)}">{author}</a>' if url else author
    rest = escape(_meta(p)[len(p.author) :])
    return (
        f'<li style="margin:0 0 12px"><div style="color:#555;font-size:13px">{who}{rest}</div>'
        f'<blockquote style="margin:4px 0 0;padding-left:8px;border-left:3px solid #ccc">'
        f"{escape(p.text)}</blockquote></li>"
    )


def html_body(message: Message) -> str:
    """The text/html part, every piece of text escaped."""
    colour = COLOURS.get(message.severity, "#333")
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{escape(k)}</th><td>{escape(v)}</td></tr>'
        for k, v in message.facts
    )
    parts = [
        '<!DOCTYPE html><html><body style="font-family:sans-serif;max-width:720px">',
        f'<h2 style="color:{colour}">{escape(message.title)}</h2>',
        f"<table>{rows}</table>" if rows else "",
    ]
    for s in message.sections:
        parts.append(f"<h3>{escape(s.heading)}</h3>")
        if s.lines:
            parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in s.lines) + "</ul>")
        if s.posts:
            parts.append(
                '<ul style="list-style:none;padding:0">' + "".join(map(_html_post, s.posts)) + "</ul>"
            )
    parts.append('<p style="color:#888;font-size:12px">sent by diplomonitor</p></body></html>')
    return "".join(parts)


def build_email(message: Message, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """A multipart/alternative email for `message`."""
    mail = EmailMessage()
    mail["Subject"] = " ".join(f"[{message.severity}] {message.title}".split())
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(localtime=False)
    key = hashlib.sha256((message.key or message.title).encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{key}@diplomonitor>"
    mail.set_content(plain_body(message))
    mail.add_alternative(html_body(message), subtype="html")
    return mail


class EmailChannel:
    """Sends through one SMTP server to the channel's recipients."""

    def __init__(self, settings: Channel, password: str | None):
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
