"""Every CLI test gets its own config directory, no keyring and no BLDST_* from outside."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith("BLDST_"):
            monkeypatch.delenv(name)
    config_dir = tmp_path / "bldst-config"
    monkeypatch.setenv("BLDST_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("BLDST_NO_KEYRING", "1")
    return config_dir
