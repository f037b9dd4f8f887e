"""`bldst db upgrade` and `bldst server start` explain start-up problems in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BLDST = str(Path(sys.executable).with_name("bldst"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BLDST, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_db_upgrade_migrates_and_says_to_which_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = run("db", "upgrade", DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("database is at revision ")
    assert run("db", "upgrade", DATABASE_URL=url).stdout == first.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("db", "upgrade"), {"DATABASE_URL": "mysql://x/y"}, "scheme 'mysql' is not supported"),
        (
            ("db", "upgrade"),
            {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"},
            "cannot use the database",
        ),
        (
            ("server", "start", "--port", "1"),
            {"JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "abc"},
            "invalid setting: JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
        ),
        (("server", "start", "--port", "1", "--production"), {}, "set JWT_SECRET_KEY"),
    ],
)
def test_startup_problems_are_one_clear_error(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env}
    result = run(*args, **env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
