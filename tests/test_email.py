"""radas.email against real SMTP servers (aiosmtpd) on 127.0.0.1: plain, login, STARTTLS, SSL."""

from __future__ import annotations

import contextlib
import datetime
import email
import email.policy
import ipaddress
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_server import Sink, free_port

from radas.email import EmailSendError, notify, send_email, smtp_settings
from radas.errors import ConfigError, RadasError, RadasTypeError, RadasValueError

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

PASSWORD = "s3cr3t-Pa55word-xyz"
USER = "alice@example.com"


def text_body(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 on failure


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RADAS_CONFIG", str(tmp_path / "no-config.toml"))
    for var in (
        "RADAS_SMTP_HOST",
        "RADAS_SMTP_PORT",
        "RADAS_SMTP_USER",
        "RADAS_SMTP_PASSWORD",
        "RADAS_SMTP_SECURITY",
        "RADAS_EMAIL_FROM",
        "RADAS_SMTP_TIMEOUT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RADAS_SMTP_TIMEOUT", "10")


@contextlib.contextmanager
def smtp_server(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Iterator[Sink]:
    """A real SMTP server on a free loopback port (aiosmtpd ``Controller`` ``options``), radas's
    host and port settings pointed at it; stopped afterwards."""
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **options)
    controller.start()
    monkeypatch.setenv("RADAS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RADAS_SMTP_PORT", str(port))
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def plain_server(monkeypatch: pytest.MonkeyPatch):
    """No TLS, no login: RADAS_SMTP_SECURITY=none."""
    with smtp_server(monkeypatch) as sink:
        monkeypatch.setenv("RADAS_SMTP_SECURITY", "none")
        monkeypatch.setenv("RADAS_EMAIL_FROM", "radas-bot@example.org")
        yield sink


@pytest.fixture
def auth_server(monkeypatch: pytest.MonkeyPatch):
    """Login required (over plain TCP on loopback)."""
    with smtp_server(monkeypatch, authenticator=authenticator, auth_required=True, auth_require_tls=False) as sink:
        monkeypatch.setenv("RADAS_SMTP_SECURITY", "none")
        monkeypatch.setenv("RADAS_SMTP_USER", USER)
        yield sink


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


def server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


# ---------------------------------------------------------------------------------------------
# sending


def test_send_plain_with_subject_body_and_attachment(plain_server: Sink, tmp_path: Path) -> None:
    attachment = tmp_path / "results.csv"
    attachment.write_text("a,score\n1,0.5\n")
    body = "Experiment done.\nBest score: 0.5 <a> & b"
    send_email(["bob@example.com", "carol@example.com"], "radas: sweep finished", body, attachments=[attachment])

    assert len(plain_server.envelopes) == 1
    envelope = plain_server.envelopes[0]
    assert envelope.mail_from == "radas-bot@example.org"
    assert sorted(envelope.rcpt_tos) == ["bob@example.com", "carol@example.com"]
    (message,) = plain_server.messages()
    assert message["Subject"] == "radas: sweep finished"
    assert "radas-bot@example.org" in message["From"]
    assert text_body(message) == body + "\n"
    html_part = message.get_body(preferencelist=("html",))
    assert "&lt;a&gt; &amp; b" in html_part.get_content()
    files = {p.get_filename(): p.get_payload(decode=True) for p in message.walk() if p.get_filename()}
    assert files == {"results.csv": b"a,score\n1,0.5\n"}


def test_body_that_is_a_file_path_is_sent_as_text(plain_server: Sink, tmp_path: Path) -> None:
    path = tmp_path / "looks-like-a-path.txt"
    path.write_text("file content")
    send_email("bob@example.com", "s", str(path))
    (message,) = plain_server.messages()
    assert not [p for p in message.walk() if p.get_filename()]
    assert text_body(message) == str(path) + "\n"


def test_comma_separated_addresses(plain_server: Sink) -> None:
    assert notify("bob@example.com, carol@example.com", "hi", "body") is True
    assert sorted(plain_server.envelopes[0].rcpt_tos) == ["bob@example.com", "carol@example.com"]


def test_login_with_password(auth_server: Sink, monkeypatch: pytest.MonkeyPatch, capsys, caplog) -> None:
    monkeypatch.setenv("RADAS_SMTP_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    send_email("bob@example.com", "with login", "body")
    (envelope,) = auth_server.envelopes
    assert envelope.mail_from == USER  # the user is the sender when RADAS_EMAIL_FROM is unset
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err + caplog.text


def test_wrong_password_never_shown(auth_server: Sink, monkeypatch: pytest.MonkeyPatch, capsys, caplog) -> None:
    wrong = "wr0ng-" + PASSWORD
    monkeypatch.setenv("RADAS_SMTP_PASSWORD", wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EmailSendError) as info:
        send_email("bob@example.com", "s", "b")
    text = str(info.value)
    assert "refused the login" in text and "RADAS_SMTP_PASSWORD" in text
    assert wrong not in text and info.value.__cause__ is None and info.value.__suppress_context__

    assert notify("bob@example.com", "s", "b") is False
    out = capsys.readouterr()
    assert "could not send" in out.out
    assert wrong not in out.out + out.err + caplog.text
    assert auth_server.envelopes == []


def test_login_required_but_no_user(auth_server: Sink, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("RADAS_SMTP_USER")
    monkeypatch.setenv("RADAS_EMAIL_FROM", "radas-bot@example.org")
    assert notify("bob@example.com", "s", "b") is False
    assert "[radas warning]" in capsys.readouterr().out


def test_starttls_verifies_certificate(certificate, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server(monkeypatch, tls_context=server_context(certificate), require_starttls=True,
                     authenticator=authenticator, auth_required=True) as sink:
        monkeypatch.setenv("RADAS_SMTP_USER", USER)
        monkeypatch.setenv("RADAS_SMTP_PASSWORD", PASSWORD)
        assert smtp_settings().security == "starttls"  # a port other than 465
        # the self-signed certificate is not trusted: refused, no message sent
        with pytest.raises(EmailSendError) as info:
            send_email("bob@example.com", "tls", "body")
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) and PASSWORD not in str(info.value)
        monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
        send_email("bob@example.com", "tls", "body")
        assert [m["Subject"] for m in sink.messages()] == ["tls"]


def test_implicit_ssl(certificate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    # aiosmtpd does not see implicit TLS as TLS: auth_require_tls=False
    with smtp_server(monkeypatch, ssl_context=server_context(certificate), authenticator=authenticator,
                     auth_required=True, auth_require_tls=False) as sink:
        monkeypatch.setenv("RADAS_SMTP_SECURITY", "ssl")
        monkeypatch.setenv("RADAS_SMTP_USER", "alice")  # login name that is not an address
        monkeypatch.setenv("RADAS_SMTP_PASSWORD", PASSWORD)
        monkeypatch.setenv("RADAS_EMAIL_FROM", "alice@example.com")
        with pytest.raises(EmailSendError, match="refused the login"):
            send_email("bob@example.com", "ssl", "body")  # wrong login name
        monkeypatch.setenv("RADAS_SMTP_USER", USER)
        send_email("bob@example.com", "ssl", "body")
        assert [m["Subject"] for m in sink.messages()] == ["ssl"]


# ---------------------------------------------------------------------------------------------
# failures and settings


def test_server_down_notify_warns_and_returns_false(monkeypatch: pytest.MonkeyPatch, capsys, caplog) -> None:
    monkeypatch.setenv("RADAS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RADAS_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("RADAS_SMTP_SECURITY", "starttls")
    monkeypatch.setenv("RADAS_SMTP_USER", USER)
    monkeypatch.setenv("RADAS_SMTP_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    assert notify("bob@example.com", "done", "body") is False
    out = capsys.readouterr()
    assert "could not send" in out.out and "127.0.0.1" in out.out
    assert PASSWORD not in out.out + out.err + caplog.text
    with pytest.raises(EmailSendError, match="RADAS_SMTP_HOST"):
        send_email("bob@example.com", "done", "body")


def test_missing_settings_clear_error(capsys) -> None:
    with pytest.raises(ConfigError) as info:
        send_email("bob@example.com", "s", "b")
    text = str(info.value)
    for var in ("RADAS_SMTP_USER", "RADAS_SMTP_PASSWORD", "RADAS_SMTP_HOST", "[email]"):
        assert var in text
    assert isinstance(info.value, RadasError)
    assert notify("bob@example.com", "s", "b") is False
    assert "RADAS_SMTP_USER" in capsys.readouterr().out


def test_gmail_defaults_and_user_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADAS_SMTP_USER", "alice@gmail.com")
    with pytest.raises(ConfigError, match="RADAS_SMTP_PASSWORD"):
        smtp_settings()
    monkeypatch.setenv("RADAS_SMTP_PASSWORD", PASSWORD)
    settings = smtp_settings()
    assert (settings.host, settings.port, settings.security) == ("smtp.gmail.com", 465, "ssl")
    assert settings.sender == "alice@gmail.com"
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.describe()


def test_config_table_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[email]\nhost = "mail.example.org"\nport = 2525\nsecurity = "none"\nfrom = "lab@example.org"\n'
    )
    monkeypatch.setenv("RADAS_CONFIG", str(config))
    settings = smtp_settings()
    assert (settings.host, settings.port, settings.security, settings.sender, settings.user) == (
        "mail.example.org",
        2525,
        "none",
        "lab@example.org",
        None,
    )
    monkeypatch.setenv("RADAS_SMTP_PORT", "2626")
    monkeypatch.setenv("RADAS_SMTP_SECURITY", "STARTTLS")
    assert (smtp_settings().port, smtp_settings().security) == (2626, "starttls")
    monkeypatch.setenv("RADAS_SMTP_SECURITY", "tls13")
    with pytest.raises(ConfigError, match="tls13"):
        smtp_settings()
    monkeypatch.setenv("RADAS_SMTP_SECURITY", "none")
    monkeypatch.setenv("RADAS_SMTP_PORT", "seventy")
    with pytest.raises(ConfigError, match="seventy"):
        smtp_settings()


def test_argument_validation(plain_server: Sink, tmp_path: Path) -> None:
    with pytest.raises(RadasValueError, match="missing.pdf"):
        send_email("bob@example.com", "s", "b", attachments=str(tmp_path / "missing.pdf"))
    with pytest.raises(RadasValueError, match="not-an-address"):
        send_email(["bob@example.com", "not-an-address"], "s", "b")
    with pytest.raises(RadasValueError):
        send_email("", "s", "b")
    with pytest.raises(RadasTypeError):
        send_email(42, "s", "b")  # type: ignore[arg-type]
    with pytest.raises(RadasTypeError):
        send_email("bob@example.com", None, "b")  # type: ignore[arg-type]
    assert notify("bob@example.com", "s", "b", attachments=[tmp_path / "nope.png"]) is False
    assert plain_server.envelopes == []


def test_an_html_version_with_inline_images(plain_server):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    send_email("bob@example.com", "report", "the text", html='<p>see <img src="cid:curves@radas"></p>',
               images={"curves@radas": png})
    [message] = plain_server.messages()
    assert text_body(message) == "the text\n"
    html = message.get_body(preferencelist=("html",))
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert 'cid:curves@radas' in html.get_content() and image["Content-ID"] == "<curves@radas>"
    assert image.get_content() == png and not list(message.iter_attachments())
    with pytest.raises(RadasTypeError, match="images must map content ids"):
        send_email("bob@example.com", "s", "b", html="<p/>", images={"x@radas": "not bytes"})
    with pytest.raises(RadasValueError, match="are not content ids"):
        send_email("bob@example.com", "s", "b", html="<p/>", images={"<bad id>": png})
