"""Past one machine (issue 8, docs/scaling.md): two `appban serve` processes and one `appban worker` on one
PostgreSQL. An exemption granted through one server's API is decided by the other server's gate within a
second: the processes share nothing but the database."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from appban.access import Role
from appban.store import Database, TokenRepository

from .support import ACTOR, RULE, now, seed_fleet, wait_for
from .test_gate_nginx import appban_command, free_port

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # processes sharing a server
def test_a_change_through_one_server_is_decided_by_the_other_within_a_second(
        database_url: str, tmp_path: Path) -> None:
    database = Database.open(database_url)
    gate_tokens = seed_fleet(database)
    with database.session() as session:
        _, admin = TokenRepository(session).create(name="admin", organisation="eu-commission", role=Role.ADMIN,
                                                   expires=None, actor=ACTOR, now=now())
    database.dispose()
    env = {**os.environ, "APPBAN_DATABASE_URL": database_url, "APPBAN_SECRET": "two-servers-secret-0123456789",
           "APPBAN_DECISION_LOG": "off"}
    ports = {name: (free_port(), free_port()) for name in ("a", "b")}
    processes: list[subprocess.Popen[bytes]] = []
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("a", "b", "worker")}
    try:
        for name, (api_port, gate_port) in ports.items():
            processes.append(subprocess.Popen(
                [*appban_command(), "serve", "--port", str(api_port), "--gate-listen", f"127.0.0.1:{gate_port}"],
                env=env, stdout=logs[name], stderr=subprocess.STDOUT))
        processes.append(subprocess.Popen([*appban_command(), "worker", "--interval", "1"], env=env,
                                          stdout=logs["worker"], stderr=subprocess.STDOUT))

        def gate(name: str, device: str) -> int:
            try:
                return httpx.get(f"http://127.0.0.1:{ports[name][1]}/gate/auth?service=mail", timeout=2,
                                 headers={"X-Device-Id": device, "X-Appban-Gate-Token": gate_tokens["eu"]}).status_code
            except httpx.HTTPError:
                return 0

        wait_for(lambda: gate("a", "late-phone") == 403 and gate("b", "late-phone") == 403, timeout=30, step=0.2)
        granted = httpx.post(f"http://127.0.0.1:{ports['a'][0]}/api/v1/exemptions", timeout=10,
                             headers={"Authorization": f"Bearer {admin}"},
                             json={"restriction": RULE, "device": "late-phone", "reason": "court case, phone kept",
                                   "approver": "DG HR", "ends": (now() + dt.timedelta(days=30)).isoformat()})
        assert granted.status_code == 201, granted.text
        granted_at = time.monotonic()
        wait_for(lambda: gate("b", "late-phone") == 200, timeout=1.0)  # decided by the other server
        wait_for(lambda: gate("a", "late-phone") == 200, timeout=1.0)  # and by the one that took it
        assert time.monotonic() - granted_at < 1.0
        assert gate("b", "clean-phone") == 200 and gate("b", "byod-phone") == 403
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for handle in logs.values():
            handle.close()
    for name in ("a", "b"):
        assert "Application shutdown complete" in (tmp_path / f"{name}.log").read_text()
    assert "worker:" in (tmp_path / "worker.log").read_text()  # it ran its rounds beside the servers
