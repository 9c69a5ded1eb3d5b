"""A real SMTP server (aiosmtpd, STARTTLS and login) and a webhook receiver, started in the test; a seeded fleet."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appban.gate.links import Links
from appban.model import Holder, Platform
from appban.notify import SmtpSettings, verify
from appban.service import evaluate_pairs, evaluate_rules, load_context
from appban.store import Database, HolderRepository, InventoryRepository
from tests.store.fleet_examples import EU_RULE, TIKTOK, TIKTOK_IOS, device, inventory, seed_fleet
from tests.store.store_examples import NOW, seed_examples

SMTP_USER, SMTP_PASSWORD = "appban", "s3cret-relay-password"
WEBHOOK_SECRET = b"a-webhook-secret-of-32-bytes-abc"
LINKS = Links(b"a-test-secret-of-at-least-16-bytes")
PUBLIC_URL = "https://appban.example.eu"
DEADLINE = NOW + dt.timedelta(days=20)  # the EU restriction's 20-day grace period
DANISH, FRENCH = "mette@example.eu", "claire@example.eu"


def link(device_id: str) -> str:
    return PUBLIC_URL + LINKS.path(device_id)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Mailbox:
    """What the SMTP server received: (envelope recipients, parsed message), and who logged in."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, recipient: str) -> list[EmailMessage]:
        with self.lock:
            return [message for rcpt, message in self.messages if recipient in rcpt]


@contextmanager
def smtp_server(directory: Path) -> Iterator[tuple[Mailbox, SmtpSettings]]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS and a login, and settings that reach it."""
    cert, key = _certificate(directory)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    mailbox = Mailbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (SMTP_USER.encode(),
                                                                                 SMTP_PASSWORD.encode())
        if ok:
            mailbox.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)

    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, authenticator=authenticate, auth_required=True)
    controller.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        yield mailbox, SmtpSettings(host="127.0.0.1", port=port, user=SMTP_USER, password=SMTP_PASSWORD,
                                    sender="appban@example.eu", starttls=True, tls_context=client_tls, timeout=10)
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A webhook receiver: answers with the statuses of `script` in turn (then the last one), checks signatures."""

    script: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    url: str = ""


@contextmanager
def webhook_receiver(script: list[int]) -> Iterator[Receiver]:
    receiver = Receiver(script=script)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                ok = verify(WEBHOOK_SECRET, self.headers.get("X-Appban-Timestamp", ""),
                            self.headers.get("X-Appban-Signature", ""), body)
                receiver.signatures_ok.append(ok)
                receiver.requests.append({"body": json.loads(body), "headers": dict(self.headers)})
                index = len(receiver.requests) - 1
                status = receiver.script[min(index, len(receiver.script) - 1)] if ok else 401
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def seed_holders_fleet(database: Database) -> None:
    """The seed cases, a Danish holder with an Android phone and a French one with an iPhone, both carrying
    TikTok on corporate devices of the European Commission, evaluated at NOW (grace until DEADLINE)."""
    seed_examples(database)
    with database.session() as session:
        HolderRepository(session).upsert([
            Holder(email=DANISH, organisation="eu-commission", name="Mette", language="da"),
            Holder(email=FRENCH, organisation="eu-commission", name="Claire", language="fr-BE")])
    seed_fleet(database, [device("phone-mette", holder=DANISH),
                          device("phone-claire", holder=FRENCH, platform=Platform.IOS)],
               [inventory("phone-mette", NOW, [TIKTOK]), inventory("phone-claire", NOW, [TIKTOK_IOS])])
    with database.session() as session:
        evaluate_rules(session, load_context(session), [EU_RULE], NOW)


def remove_tiktok(database: Database, at: dt.datetime) -> None:
    """Both phones report again without TikTok, and are re-evaluated (what an import does)."""
    with database.session() as session:
        InventoryRepository(session).save([inventory("phone-mette", at), inventory("phone-claire", at)],
                                          source_format="csv", now=at)
        evaluate_pairs(session, load_context(session), [("phone-mette", EU_RULE), ("phone-claire", EU_RULE)], at)
