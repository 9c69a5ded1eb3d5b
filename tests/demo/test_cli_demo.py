"""`appban demo --no-serve` builds the database and prints the token and the login."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from appban.cli import app


def test_demo_no_serve(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--database", url, "--size", "0.01"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^apb_[A-Za-z0-9_-]{20,}$", result.output, re.MULTILINE)
    assert re.search(r"sign in as admin@eu-commission with the password \S{12,}", result.output)
    assert "appban serve --database" in result.output
    again = CliRunner().invoke(app, ["demo", "--no-serve", "--database", f"sqlite:///{tmp_path / 'x.db'}",
                                       "--size", "0.005", "--seed", "7"])
    assert again.exit_code == 0  # a new file
    (tmp_path / "notes.db").write_text("not a database of appban's")
    refused = CliRunner().invoke(app, ["demo", "--no-serve", "--database", f"sqlite:///{tmp_path / 'notes.db'}",
                                         "--size", "0.005"])
    assert refused.exit_code != 0
    assert (tmp_path / "notes.db").read_text() == "not a database of appban's"
