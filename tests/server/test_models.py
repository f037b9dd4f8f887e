"""Every feature's models are in the one list (buildstate.server.models): a table left out
would be missed by Alembic's autogenerate and by the tests' clean-up."""

from __future__ import annotations

from pathlib import Path

import buildstate.server
from buildstate.server import models


def test_every_feature_models_module_is_listed() -> None:
    root = Path(buildstate.server.__file__).parent
    on_disk = {
        ".".join(("buildstate.server", *path.relative_to(root).with_suffix("").parts))
        for path in root.glob("*/models.py")
    }
    listed = {feature.__name__ for feature in models.FEATURES}
    assert on_disk == listed, "add the missing models module to buildstate/server/models.py"
