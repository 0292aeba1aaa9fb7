"""Send email through SMTP: :func:`send_email` and :func:`notify`.

yagmail makes the connection (SSL or STARTTLS, certificates verified) and the login; the
message itself is a standard MIME message: the body as exact plain text, an HTML version (the
one given, with its inline images, or a monospace copy of the text, so tables stay aligned) and
the attachments.

Settings come from environment variables, which override the ``[email]`` table of the
radas config file (see :func:`radas._config.config_path`):

========================  ============  ==================================================
environment variable      ``[email]``   meaning
========================  ============  ==================================================
``RADAS_SMTP_HOST``       ``host``      SMTP server (default ``smtp.gmail.com``)
``RADAS_SMTP_PORT``       ``port``      port (default 465 for ssl, 587 starttls, 25 none)
``RADAS_SMTP_USER``       ``user``      login name; no user: send without logging in
``RADAS_SMTP_PASSWORD``   ``password``  password (for Gmail an *app password*)
``RADAS_SMTP_SECURITY``   ``security``  ``ssl`` | ``starttls`` | ``none``
``RADAS_EMAIL_FROM``      ``from``      sender address (default: the user, when an address)
``RADAS_SMTP_TIMEOUT``    ``timeout``   seconds to wait for the server (default 30)
========================  ============  ==================================================

With only a user and a password, mail goes through Gmail (``smtp.gmail.com:465``, SSL).
``security`` defaults to ``ssl``, except on a port other than 465 where it is ``starttls``.
The password is never printed, logged or written anywhere,
and is removed from the text of any error.
"""

from __future__ import annotations

import base64
import html
import logging
import mimetypes
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Union

from radas._config import config_path, config_table
from radas._deps import require
from radas.errors import (
    ConfigError,
    EmailSendError,
    RadasTypeError,
    RadasValueError,
)
from radas.utils import get_current_user_name, print_warning

logger = logging.getLogger("radas")

AddressArg = str | Sequence[str]
AttachmentsArg = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], None]

_SECURITIES = ("ssl", "starttls", "none")
_DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
_GMAIL = "smtp.gmail.com"
_ADDRESS = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+$")
_ENV = {
    "host": "RADAS_SMTP_HOST",
    "port": "RADAS_SMTP_PORT",
    "user": "RADAS_SMTP_USER",
    "password": "RADAS_SMTP_PASSWORD",
    "security": "RADAS_SMTP_SECURITY",
    "from": "RADAS_EMAIL_FROM",
    "timeout": "RADAS_SMTP_TIMEOUT",
}


@dataclass(frozen=True)
class SmtpSettings:
    """The resolved SMTP settings (the password is hidden from ``repr``)."""

    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def describe(self) -> str:
        """``host:port (security), user …`` for messages; never includes the password."""
        who = f"as {self.user}" if self.user else "without login"
        return f"{self.host}:{self.port} ({self.security}, {who})"


def _raw_setting(key: str) -> tuple[Any, str]:
    """The value of one setting and where it came from (env var name or config key)."""
    env_var = _ENV[key]
    value = os.environ.get(env_var)
    if value not in (None, ""):
        return value, env_var
    table = config_table("email")
    value = table.get(key)
    return (None if value in (None, "") else value), f"[email] {key} in {config_path()}"


def smtp_settings() -> SmtpSettings:
    """Resolve the SMTP settings from the environment and the config file.

    Raises :class:`~radas.errors.ConfigError` when nothing is configured or a value is invalid.
    """
    host, _ = _raw_setting("host")
    user, _ = _raw_setting("user")
    password, _ = _raw_setting("password")
    if not host and not user:
        raise ConfigError(
            "email is not configured: set RADAS_SMTP_USER and RADAS_SMTP_PASSWORD (for Gmail: "
            "your address and an app password), or RADAS_SMTP_HOST (and RADAS_SMTP_PORT, "
            "RADAS_SMTP_SECURITY=ssl|starttls|none, RADAS_EMAIL_FROM) for another server; or the "
            f"same keys (host, port, user, password, security, from) in the [email] table of {config_path()}"
        )
    if user and not password:
        raise ConfigError(
            f"SMTP user {user!r} is set but no password: set RADAS_SMTP_PASSWORD (or `password` in "
            f"the [email] table of {config_path()}); for Gmail use an app password"
        )
    if password and not user:
        raise ConfigError(
            "an SMTP password is set but no user: set RADAS_SMTP_USER (or `user` in the [email] "
            f"table of {config_path()})"
        )
    host = str(host) if host else _GMAIL

    port_raw, port_src = _raw_setting("port")
    port: int | None = None
    if port_raw is not None:
        try:
            port = int(port_raw)
        except (TypeError, ValueError):
            port = -1
        if not 0 < port < 65536:
            raise ConfigError(f"{port_src}={port_raw!r} is not a port number: use an integer 1-65535")

    security_raw, security_src = _raw_setting("security")
    if security_raw is None:
        security = "ssl" if port in (None, 465) else "starttls"
    else:
        security = str(security_raw).strip().lower()
        if security not in _SECURITIES:
            raise ConfigError(f"{security_src}={security_raw!r} is not one of {', '.join(_SECURITIES)}")
    if port is None:
        port = _DEFAULT_PORTS[security]

    timeout_raw, timeout_src = _raw_setting("timeout")
    timeout = 30.0
    if timeout_raw is not None:
        try:
            timeout = float(timeout_raw)
        except (TypeError, ValueError):
            timeout = -1.0
        if timeout <= 0:
            raise ConfigError(f"{timeout_src}={timeout_raw!r} must be a positive number of seconds")

    sender_raw, sender_src = _raw_setting("from")
    if sender_raw is not None:
        sender = str(sender_raw).strip()
        if not _ADDRESS.match(sender):
            raise ConfigError(f"{sender_src}={sender_raw!r} is not an email address like name@example.com")
    elif user and "@" in str(user):
        sender = str(user)
    elif user and host == _GMAIL:
        sender = f"{user}@gmail.com"
    else:
        sender = f"{get_current_user_name()}@{socket.getfqdn()}"
        if not _ADDRESS.match(sender):
            raise ConfigError(
                f"no sender address: set RADAS_EMAIL_FROM (or `from` in the [email] table of {config_path()})"
            )
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        sender=sender,
        user=str(user) if user else None,
        password=str(password) if password else None,
        timeout=timeout,
    )


def _secrets() -> list[str]:
    """Every form of the password that could show up in a message (never raises)."""
    try:
        password, _ = _raw_setting("password")
        user, _ = _raw_setting("user")
    except Exception:  # noqa: BLE001 - a broken config file must not break scrubbing
        password, user = os.environ.get(_ENV["password"]), os.environ.get(_ENV["user"])
    if not password:
        return []
    password = str(password)
    forms = [password, base64.b64encode(password.encode()).decode()]
    if user:
        forms.append(base64.b64encode(f"\0{user}\0{password}".encode()).decode())
    return [f for f in forms if f]


def _scrub(text: str, secrets: Sequence[str] | None = None) -> str:
    """``text`` with every form of the SMTP password replaced by ``***``."""
    for secret in sorted(secrets if secrets is not None else _secrets(), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _recipients(to_address: AddressArg) -> list[str]:
    if isinstance(to_address, str):
        items = [part.strip() for part in to_address.split(",")]
    elif isinstance(to_address, Sequence) and all(isinstance(a, str) for a in to_address):
        items = [a.strip() for a in to_address]
    else:
        raise RadasTypeError(
            f"to_address must be an address (str) or a list of addresses, got "
            f"{type(to_address).__name__} {to_address!r}"
        )
    items = [a for a in items if a]
    if not items:
        raise RadasValueError(f"to_address={to_address!r} holds no address: give e.g. 'alice@example.com'")
    bad = [a for a in items if not _ADDRESS.match(a)]
    if bad:
        raise RadasValueError(f"to_address: {bad} is not an email address like name@example.com")
    return items


def _attachment_paths(attachments: AttachmentsArg) -> list[str]:
    if attachments is None:
        return []
    if isinstance(attachments, (str, os.PathLike)):
        attachments = [attachments]
    if not isinstance(attachments, Sequence):
        raise RadasTypeError(
            f"attachments must be a path or a list of paths, got {type(attachments).__name__} {attachments!r}"
        )
    paths = []
    for item in attachments:
        if not isinstance(item, (str, os.PathLike)):
            raise RadasTypeError(f"attachments: {item!r} is a {type(item).__name__}, not a file path")
        path = Path(item).expanduser()
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise RadasValueError(f"attachment {str(item)!r} {what}: give the path of an existing file")
        paths.append(str(path))
    return paths


def _import_yagmail() -> Any:
    return require("yagmail", "sending email")


def _make_client(yagmail: Any, settings: SmtpSettings) -> Any:
    """A yagmail client that logs in with ``settings.user`` but sends as ``settings.sender``."""
    login = (settings.user, settings.password)

    class _Client(yagmail.Client):  # type: ignore[misc]
        def _login(self, password: Any) -> None:
            # smtp_skip_login=True: yagmail only connects (and STARTTLS); we log in ourselves so
            # that the login name may differ from the sender and no keyring/prompt is involved.
            super()._login(password)
            if login[0]:
                self.smtp.login(login[0], login[1])

    kwargs: dict[str, Any] = {"timeout": settings.timeout}
    if settings.security == "ssl":
        kwargs["context"] = ssl.create_default_context()
        tls: dict[str, Any] = {"smtp_ssl": True, "smtp_starttls": False}
    elif settings.security == "starttls":
        tls = {"smtp_ssl": False, "smtp_starttls": {"context": ssl.create_default_context()}}
    else:
        tls = {"smtp_ssl": False, "smtp_starttls": False}
    client = _Client(
        user=settings.sender,
        password=None,
        host=settings.host,
        port=settings.port,
        smtp_skip_login=True,
        soft_email_validation=False,
        **tls,
        **kwargs,
    )
    client.set_logging(None)  # yagmail's own logger would print to stderr
    return client


def send_email(
    to_address: AddressArg,
    subject: str,
    body: str,
    attachments: AttachmentsArg = None,
    *,
    html: str | None = None,
    images: Mapping[str, bytes] | None = None,
) -> None:
    """Send an email: plain text, optionally an HTML version with inline images, and file
    attachments.

    ``to_address`` is one address, a comma-separated string or a list of addresses;
    ``attachments`` a path or a list of paths. ``html`` is shown by mail programs that show HTML
    (``body`` is the plain-text alternative); ``images`` are PNGs shown inside it, by content id:
    ``images={"curves@radas": png}`` with ``<img src="cid:curves@radas">`` in ``html``. SMTP
    settings are described in the module docstring (``RADAS_SMTP_*`` variables or the ``[email]``
    config table).

    Raises :class:`~radas.errors.ConfigError` when email is not configured,
    :class:`~radas.errors.RadasValueError` / :class:`~radas.errors.RadasTypeError` for bad
    arguments, and :class:`EmailSendError` when the server cannot be reached or refuses.
    """
    recipients = _recipients(to_address)
    if not isinstance(subject, str):
        raise RadasTypeError(f"subject must be a str, got {type(subject).__name__} {subject!r}")
    if not isinstance(body, str):
        raise RadasTypeError(f"body must be a str, got {type(body).__name__}")
    if html is not None and not isinstance(html, str):
        raise RadasTypeError(f"html must be a str or None, got {type(html).__name__}")
    inline = _images(images)
    files = _attachment_paths(attachments)
    settings = smtp_settings()
    yagmail = _import_yagmail()
    secrets = _secrets()
    where = settings.describe()
    message = _build_message(settings.sender, recipients, subject, body, files, html, inline)
    try:
        client = _make_client(yagmail, settings)
        try:
            client.login()  # connect, TLS, login (yagmail)
            result = client.smtp.send_message(message, from_addr=settings.sender, to_addrs=recipients)
        finally:
            _close_quietly(client)
    except smtplib.SMTPAuthenticationError as exc:
        detail = _scrub(_smtp_text(exc), secrets)
        raise EmailSendError(
            f"SMTP server {where} refused the login: {detail}. Check RADAS_SMTP_USER and "
            "RADAS_SMTP_PASSWORD (for Gmail, an app password)"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        detail = _scrub(f"{type(exc).__name__}: {_smtp_text(exc)}", secrets)
        raise EmailSendError(
            f"could not send email to {recipients} through {where}: {detail}. Check "
            "RADAS_SMTP_HOST, RADAS_SMTP_PORT and RADAS_SMTP_SECURITY"
        ) from None
    if result:
        refused = _scrub(str(sorted(result)), secrets)
        print_warning(f"the SMTP server refused some recipients of {subject!r}: {refused}")
    logger.info("email %r sent to %s through %s:%s", subject, recipients, settings.host, settings.port)


def _images(images: Mapping[str, bytes] | None) -> dict[str, bytes]:
    if images is None:
        return {}
    if not isinstance(images, Mapping) or not all(isinstance(k, str) and isinstance(v, bytes)
                                                  for k, v in images.items()):
        raise RadasTypeError("images must map content ids (str) to PNG bytes, e.g. {'curves@radas': png}")
    bad = [k for k in images if not k or any(c in k for c in "<> \r\n")]
    if bad:
        raise RadasValueError(f"images: {bad} are not content ids: use names like 'curves@radas' (no spaces or <>)")
    return dict(images)


def _build_message(sender: str, recipients: list[str], subject: str, body: str, files: list[str],
                   html_body: str | None = None, images: Mapping[str, bytes] | None = None) -> EmailMessage:
    """A text/plain message with an HTML alternative (``html_body`` with its inline ``images``, or
    the text in monospace) and its attachments."""
    message = EmailMessage()
    message["Subject"] = " ".join(subject.splitlines())  # a header is one line
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message.set_content(body)
    if html_body is None:
        html_body = f"<html><body><pre>{html.escape(body)}</pre></body></html>"
    message.add_alternative(html_body, subtype="html")
    html_part = message.get_body(preferencelist=("html",))
    if html_part is not None:  # the part just added
        for cid, png in (images or {}).items():
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", disposition="inline",
                                  filename=f"{cid.partition('@')[0]}.png")
    for path in files:
        kind, encoding = mimetypes.guess_type(path)
        if kind is None or encoding is not None:
            kind = "application/octet-stream"
        maintype, subtype = kind.split("/", 1)
        data = Path(path).read_bytes()
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=Path(path).name)
    return message


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:  # noqa: BLE001 - a failed QUIT must not hide the real error
        pass


def _smtp_text(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text}"
    return str(exc)


def notify(
    to_address: AddressArg,
    subject: str,
    body: str,
    attachments: AttachmentsArg = None,
    *,
    html: str | None = None,
    images: Mapping[str, bytes] | None = None,
) -> bool:
    """Like :func:`send_email`, but never raises: on any failure print a warning, return False.

    Used for the end-of-experiment email, so that a mail problem never breaks an experiment.
    Returns True when the message was handed to the server.
    """
    try:
        send_email(to_address, subject, body, attachments, html=html, images=images)
    except Exception as exc:  # noqa: BLE001 - notification must never raise
        detail = _scrub(f"{type(exc).__name__}: {exc}")
        print_warning(f"could not send the email {subject!r} to {to_address!r}: {detail}")
        return False
    return True


__all__ = ["send_email", "notify", "smtp_settings", "SmtpSettings", "EmailSendError"]
