"""Schemathesis against a real uvicorn: every operation of ``/openapi.json``, positive and
negative data (examples and fuzzing phases; the coverage phase too with
``BUILDSTATE_SCHEMATHESIS_COVERAGE=1``), then the stateful phase over the links
schemathesis infers. Each example is sent with a read, write or admin API token (drawn per
example), and half of them are pointed at seeded objects (builds in every status, projects
with and without state codes, users, tokens, state codes).

Checks: no 5xx (``not_a_server_error``), every status code is documented
(``status_code_conformance``), every body matches its documented schema
(``response_schema_conformance``).

Budgets: ``BUILDSTATE_SCHEMATHESIS_EXAMPLES`` (fuzzing examples per operation, default 50)
and ``BUILDSTATE_STATEFUL_SCENARIOS`` (stateful scenarios per credential, default 6).
The numbers actually run are printed in the terminal summary. The examples are the same on
every run unless ``make fuzz`` gives a seed (see ``tests/conftest.py``).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from buildstate.server.app import create_app
from buildstate.server.settings import DEV_API_KEY, Settings
from tests.conftest import FUZZ_SEED
from tests.reliability import report
from tests.reliability.conftest import budget, db_name

EXAMPLES = budget("BUILDSTATE_SCHEMATHESIS_EXAMPLES", 50)
STATEFUL_SCENARIOS = budget("BUILDSTATE_STATEFUL_SCENARIOS", 6)
COVERAGE = budget("BUILDSTATE_SCHEMATHESIS_COVERAGE", 0) > 0
SCOPES = ("read", "write", "admin")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
ADMIN = {"X-API-Key": DEV_API_KEY}


def _openapi() -> dict[str, Any]:
    # The schema the server publishes; building it touches no database.
    return create_app(Settings(DATABASE_URL="sqlite:///openapi-only.db")).openapi()


schema = schemathesis.openapi.from_dict(
    _openapi(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": EXAMPLES},
            "phases": {"coverage": {"enabled": COVERAGE}},
            # Schemathesis draws a seed of its own unless given one (--hypothesis-seed is
            # not it); without FUZZ_SEED, the "repro" profile's derandomize decides.
            **({"seed": int(FUZZ_SEED)} if FUZZ_SEED else {}),
        }
    ),
)


@dataclass
class Seed:
    """Reference data made before fuzzing, so that generated requests reach real objects.

    ``known`` ids are safe to read and write; ``victims`` are the only ids handed to
    operations that delete or deactivate (so the credentials and catalog stay usable).
    """

    headers: dict[str, dict[str, str]]
    known: dict[str, list[str]] = field(default_factory=dict)
    victims: dict[str, list[str]] = field(default_factory=dict)
    victim_tokens: list[tuple[str, str]] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)


def _ok(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _seed(base_url: str) -> Seed:
    names = itertools.count(1)
    with httpx.Client(base_url=base_url, headers=ADMIN, timeout=30) as c:

        def user(scopes: list[str]) -> tuple[str, dict[str, Any]]:
            made = _ok(
                c.post(
                    "/users",
                    json={
                        "username": f"fuzz-{next(names)}",
                        "password": "password-123",
                        "scopes": scopes,
                    },
                )
            )
            token = _ok(c.post(f"/users/{made['id']}/tokens", json={"name": "t", "scopes": scopes}))
            return made["id"], token

        headers, users = {}, []
        for scope in SCOPES:
            uid, token = user(
                {"read": ["read"], "write": ["read", "write"]}.get(scope, list(SCOPES))
            )
            headers[scope] = {"X-API-Key": token["token"]}
            users.append(uid)
        victim_users, victim_tokens = [], []
        for _ in range(2):
            uid, token = user(["read"])
            victim_users.append(uid)
            victim_tokens.append((uid, token["id"]))

        catalog: dict[str, list[str]] = {}
        victims: dict[str, list[str]] = {}
        bodies = {
            "platforms": {"name": "fuzz", "cloud_provider": "aws", "region": "eu-west-1"},
            "os_versions": {"name": "fuzz", "version": "1.0"},
            "image_types": {"name": "fuzz"},
            "projects": {"name": "fuzz"},
        }
        for kind, body in bodies.items():
            # Our own ids: fuzzing may delete the seeded development ones (it learns them
            # from the source), and builds need active references.
            catalog[kind] = [
                _ok(
                    c.post(f"/{kind}/", json={**body, "name": f"keep {kind}", "id": f"keep-{kind}"})
                )["id"]
            ]
            victims[kind] = [
                _ok(
                    c.post(
                        f"/{kind}/",
                        json={**body, "name": f"victim {i}", "id": f"victim-{kind}-{i}"},
                    )
                )["id"]
                for i in range(2)
            ] + ["victim-missing"]
        open_project = _ok(c.post("/projects/", json={"name": "fuzz-open"}))["id"]
        coded = _ok(c.post("/projects/", json={"name": "fuzz-coded"}))["id"]
        codes = [
            _ok(
                c.post(
                    f"/projects/{coded}/state-codes",
                    json={"state_code": code, "is_blocking": code == 50},
                )
            )["id"]
            for code in (0, 10, 50, 100)
        ]
        doomed = victims["projects"][0]
        doomed_codes = [
            _ok(c.post(f"/projects/{doomed}/state-codes", json={"state_code": code}))["id"]
            for code in (5, 15)
        ]
        catalog["projects"] = [open_project, coded]

        def build(project: str, *steps: tuple[str, dict[str, Any]]) -> str:
            made = _ok(
                c.post(
                    "/builds",
                    json={
                        "project_id": project,
                        "platform_id": catalog["platforms"][0],
                        "os_version_id": catalog["os_versions"][0],
                        "image_type_id": catalog["image_types"][0],
                        "build_number": f"fuzz-{next(names)}",
                        "labels": {"team": "fuzz"},
                    },
                )
            )
            for path, body in steps:
                response = c.post(f"/builds/{made['id']}/{path}", json=body)
                assert response.status_code in (200, 201), response.text
            return str(made["id"])

        checkpoint = (
            "state",
            {
                "state_code": 10,
                "status": "completed",
                "artifact_storage_type": "s3",
                "artifact_storage_path": "s3://fuzz/10.qcow2",
                "artifact_size_bytes": 1024,
                "artifact_checksum": "sha256:" + "ab" * 32,
            },
        )
        builds = [
            build(open_project),
            build(open_project, checkpoint),
            build(open_project, checkpoint, ("failure", {"state_code": 20, "error_message": "x"})),
            build(
                open_project,
                ("state", {"state_code": 5, "status": "in_progress"}),
                ("failure", {"state_code": 5, "error_message": "x", "is_retryable": False}),
            ),
            build(open_project, ("state", {"state_code": 100, "status": "completed"})),
            build(open_project, ("cancel", {"reason": "fuzz"})),
            build(coded, ("state", {"state_code": 10, "status": "in_progress"})),
            build(coded, ("failure", {"state_code": 50, "error_message": "blocked"})),
        ]

    known = {
        "build_id": [*builds, "no-such-build"],
        "project_id": [open_project, coded, "no-such-project"],
        "platform_id": [*catalog["platforms"], "no-such-platform"],
        "user_id": [*users, "no-such-user"],
        "state_code_id": [*codes, "no-such-code"],
        "token_id": [victim_tokens[0][1], "no-such-token"],
        "platforms": catalog["platforms"],
        "os_versions": catalog["os_versions"],
        "image_types": catalog["image_types"],
        "projects": catalog["projects"],
    }
    victims["user_id"] = victim_users
    victims["state_code_id"] = doomed_codes
    victims["project_id"] = [doomed]
    return Seed(headers=headers, known=known, victims=victims, victim_tokens=victim_tokens)


@pytest.fixture(scope="module")
def seed(module_server: str) -> Iterator[Seed]:
    seeded = _seed(module_server)
    yield seeded
    seeded.session.close()


def _destructive(case: schemathesis.Case) -> bool:
    """Operations that may delete, deactivate or re-scope what they are pointed at."""
    return case.method == "DELETE" or (case.method == "PUT" and case.path.startswith("/users"))


def _choices(seed: Seed, case: schemathesis.Case, name: str) -> list[str]:
    pool = seed.victims if _destructive(case) else seed.known
    if name == "entry_id":
        kind = case.path.strip("/").split("/")[0]
        return pool.get(kind, [])
    return pool.get(name, [])


def _chooser(case: schemathesis.Case) -> random.Random:
    """Choices derived from the generated case itself, so a replayed (or shrunk) failing
    example gets the same credential and the same seeded ids again."""
    text = repr((case.method, case.path, case.path_parameters, case.query, case.headers, case.body))
    return random.Random(hashlib.sha256(text.encode(errors="replace")).digest())


def aim(seed: Seed, case: schemathesis.Case, pick: random.Random) -> None:
    """Half the time, point the generated request at real objects."""
    if pick.random() < 0.5:
        return
    if case.path == "/users/{user_id}/tokens/{token_id}":
        uid, tid = pick.choice(seed.victim_tokens)
        case.path_parameters = {**(case.path_parameters or {}), "user_id": uid, "token_id": tid}
        return
    for name in list(case.path_parameters or {}):
        choices = _choices(seed, case, name)
        if choices:
            case.path_parameters[name] = pick.choice(choices)
    if case.path == "/builds" and case.method == "POST" and isinstance(case.body, dict):
        for name, kind in (
            ("project_id", "projects"),
            ("platform_id", "platforms"),
            ("os_version_id", "os_versions"),
            ("image_type_id", "image_types"),
        ):
            case.body[name] = pick.choice(seed.known[kind])


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
def test_every_operation_conforms(
    case: schemathesis.Case, seed: Seed, module_server: str, backend: str
) -> None:
    pick = _chooser(case)
    scope = pick.choice(SCOPES)
    aim(seed, case, pick)
    report.EXAMPLES[(db_name(backend), case.operation.label, scope)] += 1
    case.call_and_validate(
        base_url=module_server,
        session=seed.session,
        headers=seed.headers[scope],
        checks=CHECKS,
        timeout=30,
    )


@pytest.mark.parametrize("scope", SCOPES)
def test_stateful_links(scope: str, seed: Seed, module_server: str, backend: str) -> None:
    """Chains of calls along the links schemathesis infers (create → read/update/…)."""
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            report.STEPS[(db_name(backend), scope)] += 1
            return {
                "base_url": module_server,
                "session": seed.session,
                "headers": seed.headers[scope],
                "timeout": 30,
            }

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=10,
            deadline=None,
            # No shrinking: replaying HTTP scenarios to shrink them can take minutes.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    assert report.STEPS[(db_name(backend), scope)] > 0
