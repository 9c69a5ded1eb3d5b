"""Debian's nginx in front of a stand-in mail service, asking a running `appban serve` on PostgreSQL with
`auth_request` — the configuration docs/gate.md gives, run for real.

Shows: a compliant device passes; a device that kept TikTok past its grace period gets 403 with the link to its
remediation page; inside a grace period it passes with the warning; after a new inventory without TikTok it
passes within a second; with the database cut away (a TCP forwarder between appban and PostgreSQL), decisions
go on; and a clean shutdown writes every decision to the decision log. Skipped only without an nginx binary
(.ci/run installs Debian's).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from sqlalchemy.engine import make_url

from appban.store import Database

from .support import SIGNAL, Forwarder, push, report, seed_fleet, wait_for

pytestmark = pytest.mark.postgres

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None)
PUBLIC_URL = "https://appban.example.eu"

NGINX_CONF = """\
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream appban {{ server unix:{gate_socket}; keepalive 16; }}  # the gate's own listener
    upstream mail {{ server 127.0.0.1:{mail_port}; }}

    server {{
        listen 127.0.0.1:{nginx_port};

        location / {{
            auth_request /_appban;
            auth_request_set $appban_warning $upstream_http_x_appban_warning;
            auth_request_set $appban_reason $upstream_http_x_appban_reason;
            auth_request_set $appban_remediation $upstream_http_x_appban_remediation;
            auth_request_set $appban_decision $upstream_http_x_appban_decision_id;
            add_header X-Appban-Warning $appban_warning always;
            add_header X-Appban-Reason $appban_reason always;
            add_header X-Appban-Remediation $appban_remediation always;
            add_header X-Appban-Decision-Id $appban_decision always;
            proxy_pass http://mail;
        }}

        location = /_appban {{
            internal;
            proxy_method HEAD;  # no body in a denial: nginx keeps the connection to appban
            proxy_pass http://appban/gate/auth?service=mail;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Device-Id $http_x_device_id;  # in production: $ssl_client_fingerprint
            proxy_set_header X-Appban-Gate-Token "{token}";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailService(BaseHTTPRequestHandler):
    """The corporate service behind the proxy: answers anything it is let through to."""

    leaked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        if self.headers.get("X-Appban-Gate-Token"):
            MailService.leaked.append(self.path)
        body = b"mail for you\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def mail() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), MailService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def appban_command() -> list[str]:
    script = Path(sys.executable).with_name("appban")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from appban.cli import main; main()"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_nginx_auth_request_in_front_of_a_mail_service(database_url: str, mail: int, tmp_path: Path) -> None:
    if NGINX is None:
        pytest.skip("no nginx binary (Debian's `nginx-light` or `nginx`; .ci/run installs it)")
    database = Database.open(database_url)
    tokens = seed_fleet(database)
    url = make_url(database_url)
    forwarder = Forwarder(url.host or "127.0.0.1", url.port or 5432)
    appban_port, nginx_port = free_port(), free_port()
    log_path = tmp_path / "decisions.jsonl"
    env = {**os.environ, "APPBAN_DATABASE_URL": url.set(host="127.0.0.1", port=forwarder.port).render_as_string(
               hide_password=False),
           "APPBAN_SECRET": "nginx-test-secret-0123456789", "APPBAN_PUBLIC_URL": PUBLIC_URL,
           "APPBAN_DECISION_LOG": str(log_path), "APPBAN_GATE_REFRESH_SECONDS": "3600"}
    appban_out = (tmp_path / "appban.log").open("w")
    gate_socket = tmp_path / "gate.sock"
    appban = subprocess.Popen([*appban_command(), "serve", "--host", "127.0.0.1", "--port", str(appban_port),
                               "--gate-listen", f"unix:{gate_socket}"],
                              env=env, stdout=appban_out, stderr=subprocess.STDOUT)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(NGINX_CONF.format(user=user, dir=prefix, gate_socket=gate_socket,
                                                         mail_port=mail, nginx_port=nginx_port, token=tokens["eu"]))
    nginx: subprocess.Popen[bytes] | None = None
    asked = 0
    try:
        def serving() -> bool:
            if appban.poll() is not None:
                raise AssertionError("appban serve exited:\n" + (tmp_path / "appban.log").read_text()[-3000:])
            return _answers(f"http://127.0.0.1:{appban_port}/gate/auth") == 401 and gate_socket.is_socket()

        wait_for(serving, timeout=20, step=0.1)
        nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                                  str(prefix / "error.log"), "-g", "daemon off;"], stderr=subprocess.PIPE)
        wait_for(lambda: _answers(f"http://127.0.0.1:{nginx_port}/") is not None, timeout=10, step=0.05)
        client = httpx.Client(base_url=f"http://127.0.0.1:{nginx_port}", timeout=5)

        def visit(device: str) -> httpx.Response:
            nonlocal asked
            asked += 1
            return client.get("/owa/inbox", headers={"X-Device-Id": device})

        clean = visit("clean-phone")
        assert clean.status_code == 200 and clean.text == "mail for you\n"
        assert "x-appban-reason" not in clean.headers and clean.headers["x-appban-decision-id"]

        late = visit("late-phone")
        assert late.status_code == 403
        assert late.headers["x-appban-remediation"].startswith(f"{PUBLIC_URL}/remediate/")
        assert "TikTok (com.zhiliaoapp.musically) must be removed" in late.headers["x-appban-reason"]

        graced = visit("grace-phone")
        assert graced.status_code == 200 and graced.text == "mail for you\n"
        assert graced.headers["x-appban-warning"].startswith("remove TikTok (com.zhiliaoapp.musically) by ")

        assert visit("phone-nobody-enrolled").status_code == 403
        assert visit("byod-phone").status_code == 403  # personal apps not visible: unknown counts as non-compliant

        push(database, report("late-phone", [SIGNAL]))  # a new inventory without TikTok, straight into the store
        pushed = time.monotonic()
        while visit("late-phone").status_code != 200:
            assert time.monotonic() - pushed < 1.0, "the gate did not follow the new inventory within 1 s"
            time.sleep(0.02)

        forwarder.cut()  # PostgreSQL unreachable from appban
        wait_for(lambda: "answering from the table in memory" in (tmp_path / "appban.log").read_text(), timeout=5)
        for _ in range(3):
            assert visit("late-phone").status_code == 200
            assert visit("clean-phone").status_code == 200
            assert visit("grace-phone").headers["x-appban-warning"]
            assert visit("byod-phone").status_code == 403
            time.sleep(0.3)
        assert MailService.leaked == []  # the gate token never reaches the service
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        appban.send_signal(signal.SIGTERM)
        code = appban.wait(timeout=20)
        appban_out.close()
        forwarder.close()
        database.dispose()
    log_text = (tmp_path / "appban.log").read_text()
    assert code in (0, -signal.SIGTERM), log_text[-3000:]  # uvicorn re-raises the signal once shut down
    assert "Application shutdown complete" in log_text
    decisions = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(decisions) == asked  # every request through nginx (the readiness probe had no device: no decision)
    assert {d["uri"] for d in decisions} == {"/owa/inbox"}
    assert {d["token"] for d in decisions} == {decisions[0]["token"]}


def _answers(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return None

