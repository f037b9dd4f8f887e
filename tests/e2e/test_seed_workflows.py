"""The API reference's "Example Workflows", run as shell, unchanged, against a freshly
started development server (`bldst server start`), on SQLite and PostgreSQL.

The scripts are the reference's code blocks verbatim; the only substitution is the base
URL (`http://localhost:8080` → the test server's port), as the reference itself says to.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import IN_CI

HERE = Path(__file__).parent
SEED = HERE.parents[2] / "shared" / "seeds" / "000_6be66019194e8791.txt"
SCRIPTS = [HERE / "complete_build_workflow.sh", HERE / "query_and_filter.sh"]


def _require_tools() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"{', '.join(missing)} must be installed under CI=true")
        pytest.skip(f"needs {', '.join(missing)}")


def test_vendored_scripts_are_the_reference_verbatim() -> None:
    if not SEED.exists():
        pytest.skip("the seed documents are not beside this checkout")
    text = SEED.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text[text.index("## Example Workflows") :], re.S)
    assert blocks == [script.read_text() for script in SCRIPTS]


@pytest.mark.e2e
def test_example_workflows_run_unchanged(server_process: str) -> None:
    _require_tools()
    script = "\n".join(s.read_text() for s in SCRIPTS)
    script = script.replace("http://localhost:8080", server_process)
    result = subprocess.run(
        ["bash", "-c", "set -e\n" + script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    documents = _json_documents(result.stdout)
    # Two state reports, then the state view, the project's builds, failed builds, summary.
    first, second, view, project_builds, failed, summary = documents
    assert (first["state_code"], first["status"]) == (5, "in_progress")
    assert second["message"] == "Installing packages"
    assert view["current_state"] == 25
    assert view["status"] == "in_progress"
    assert [(h["state_code"], h["status"]) for h in view["history"]] == [
        (0, "pending"),
        (5, "in_progress"),
        (25, "in_progress"),
    ]
    assert [b["build_number"] for b in project_builds] == ["2024.02.001"]
    assert project_builds[0]["platform_id"] == "aws-commercial"
    assert failed == []
    assert summary["total_builds"] == 1
    assert summary["active_builds"] == 1
    assert set(summary) >= {
        "total_builds",
        "active_builds",
        "completed_builds",
        "failed_builds",
        "platforms",
        "projects",
    }


def _json_documents(text: str) -> list[object]:
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        document, index = decoder.raw_decode(text, index)
        documents.append(document)
    return documents
