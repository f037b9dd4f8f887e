"""A Hypothesis state machine drives random create / report / failure / resume / cancel
sequences through the API and keeps a model of what README "The state machine" says must
happen. After every step: the status code matches the model (2xx, 409 or 422), the build
matches the model, ``current_state`` is the newest history row, history is append-only,
codes never go down within an attempt, frozen builds stay frozen, attempts only grow.
Reports and failures sometimes name their attempt (the current one, a superseded one, one
not started) and resumes sometimes force or expect an attempt: a report naming another
attempt than the current one is never recorded. Every step runs well within the live
period (300 s), so an in-progress build is always live: resumed only when forced. The
concurrent side of fencing is ``test_fencing_model.py``.

Budget: ``BUILDSTATE_STATEFUL_STEPS`` (total steps per database, default 300).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)
from starlette.testclient import TestClient

from tests.conftest import ADMIN
from tests.reliability import report
from tests.reliability.conftest import budget, db_name

STEPS = budget("BUILDSTATE_STATEFUL_STEPS", 300)
STEPS_PER_RUN = 50
CODES = (0, 10, 20, 50, 80, 100)  # the coded project's state codes
BLOCKING = frozenset({50})
FROZEN = frozenset({"completed", "cancelled"})

# Mostly the coded project's codes (so its builds get far), sometimes any code.
codes = st.sampled_from(CODES) | st.sampled_from(CODES) | st.integers(0, 100)
statuses = st.sampled_from(["pending", "in_progress", "completed", "failed"])
# Which attempt a request names, relative to the build's current one (None: none).
named_attempts = st.sampled_from([None, 0, 0, -1, 1])


class Refused(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


@dataclass
class Model:
    """What the rules say a build is."""

    coded: bool
    status: str = "pending"
    current: int = 0
    attempt: int = 1
    last_row_status: str = "pending"
    failure_retryable: bool | None = None
    failure_blocking: bool = False
    checkpoints: list[int] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)  # as last seen
    frozen_rows: int | None = None  # history length when it froze

    @property
    def final(self) -> int:
        return CODES[-1] if self.coded else 100

    def check_code(self, code: int) -> None:
        if self.coded and code not in CODES:
            raise Refused(422)

    def named(self, offset: int | None) -> int | None:
        """The attempt ``offset`` from the current one (never below 1), or None."""
        return None if offset is None else max(1, self.attempt + offset)

    def fence(self, attempt: int | None) -> None:
        """Before any other rule: a report naming another attempt is refused."""
        if attempt is not None and attempt != self.attempt:
            raise Refused(409)

    def report(self, code: int, status: str, artifact: bool, attempt: int | None) -> None:
        self.fence(attempt)
        if self.status in FROZEN:  # frozen first: 409 even for an undefined code
            raise Refused(409)
        self.check_code(code)
        attempt = self.attempt
        if self.status == "failed":
            if not self.failure_retryable or self.failure_blocking:
                raise Refused(409)
            attempt += 1
        elif code < self.current or (
            code == self.current
            and self.last_row_status == "completed"
            and status in ("pending", "in_progress")
        ):
            raise Refused(409)
        if status == "failed":
            new = "failed"
            self.failure_retryable, self.failure_blocking = True, self.coded and code in BLOCKING
        elif status == "completed" and code == self.final:
            new = "completed"
        elif status == "pending" and self.status == "pending":
            new = "pending"
        else:
            new = "in_progress"
        if artifact and status == "completed":
            self.checkpoints.append(code)
        self.status, self.current, self.attempt, self.last_row_status = new, code, attempt, status

    def failure(self, code: int, retryable: bool, attempt: int | None) -> None:
        self.fence(attempt)
        if self.status in FROZEN:
            raise Refused(409)
        self.check_code(code)
        if self.status == "failed" or code < self.current:
            raise Refused(409)
        self.status, self.current, self.last_row_status = "failed", code, "failed"
        self.failure_retryable, self.failure_blocking = retryable, self.coded and code in BLOCKING

    def resume(self, from_state: int | None, force: bool, expected: int | None) -> int:
        if expected is not None and expected != self.attempt:
            raise Refused(409)
        if self.status in FROZEN or self.status == "pending":
            raise Refused(409)
        if self.status == "in_progress" and not force:  # live: see the module docstring
            raise Refused(409)
        if from_state is not None and from_state != 0 and from_state not in self.checkpoints:
            raise Refused(422)
        pool = (
            self.checkpoints
            if from_state is None
            else [from_state] * (from_state in self.checkpoints)
        )
        # Without a checkpoint: the first state (both projects' first code is 0).
        start = max(pool, default=0)
        self.status, self.current, self.last_row_status = "in_progress", start, "in_progress"
        self.attempt += 1
        return start

    def cancel(self) -> None:
        if self.status in FROZEN:
            raise Refused(409)
        self.status, self.last_row_status = "cancelled", "cancelled"


def make_machine(client: TestClient, backend: str) -> type[RuleBasedStateMachine]:
    name = db_name(backend)

    def made(response: Any, status: int = 201) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    open_project = made(client.post("/projects/", headers=ADMIN, json={"name": "model-open"}))["id"]
    coded_project = made(client.post("/projects/", headers=ADMIN, json={"name": "model-coded"}))[
        "id"
    ]
    for code in CODES:
        made(
            client.post(
                f"/projects/{coded_project}/state-codes",
                headers=ADMIN,
                json={"state_code": code, "is_blocking": code in BLOCKING},
            )
        )
    numbers = iter(range(10**9))

    class BuildLifecycle(RuleBasedStateMachine):
        builds = Bundle("builds")

        def __init__(self) -> None:
            super().__init__()
            self.models: dict[str, Model] = {}

        # -- rules ---------------------------------------------------------------------
        @initialize(target=builds, coded=st.booleans())
        def first_build(self, coded: bool) -> str:
            return self._create(coded)

        @rule(target=builds, coded=st.booleans())
        def create(self, coded: bool) -> str:
            return self._create(coded)

        @rule(
            build=builds,
            code=codes,
            status=statuses,
            artifact=st.booleans(),
            offset=named_attempts,
        )
        def report_state(
            self, build: str, code: int, status: str, artifact: bool, offset: int | None
        ) -> None:
            model = self.models[build]
            attempt = model.named(offset)
            body: dict[str, Any] = {"state_code": code, "status": status, "message": "model"}
            if attempt is not None:
                body["attempt"] = attempt
            if artifact:
                body |= {
                    "artifact_storage_type": "s3",
                    "artifact_storage_path": f"s3://model/{build}/{code}.qcow2",
                    "artifact_size_bytes": 1024,
                    "artifact_checksum": "sha256:" + "ab" * 32,
                }
            response = client.post(f"/builds/{build}/state", headers=ADMIN, json=body)
            self._fenced(response, model, attempt)
            accepted = self._expect(
                response, 200, lambda: model.report(code, status, artifact, attempt)
            )
            if accepted:
                answer = response.json()
                assert (answer["attempt"], answer["build_status"]) == (model.attempt, model.status)
            self._check(build, accepted)

        @rule(build=builds, code=codes, retryable=st.booleans(), offset=named_attempts)
        def record_failure(
            self, build: str, code: int, retryable: bool, offset: int | None
        ) -> None:
            model = self.models[build]
            attempt = model.named(offset)
            body = {"state_code": code, "error_message": "model", "is_retryable": retryable}
            if attempt is not None:
                body["attempt"] = attempt
            response = client.post(f"/builds/{build}/failure", headers=ADMIN, json=body)
            self._fenced(response, model, attempt)
            accepted = self._expect(response, 201, lambda: model.failure(code, retryable, attempt))
            if accepted:
                assert response.json()["is_blocking"] == model.failure_blocking
            self._check(build, accepted)

        @rule(
            build=builds,
            from_state=st.one_of(st.none(), codes),
            force=st.booleans(),
            offset=named_attempts,
        )
        def resume(
            self, build: str, from_state: int | None, force: bool, offset: int | None
        ) -> None:
            model = self.models[build]
            expected = model.named(offset)
            body: dict[str, Any] = {} if from_state is None else {"from_state": from_state}
            if force:
                body["force"] = True
            if expected is not None:
                body["expected_attempt"] = expected
            response = client.post(f"/builds/{build}/resume", headers=ADMIN, json=body)
            start: list[int] = []
            accepted = self._expect(
                response, 200, lambda: start.append(model.resume(from_state, force, expected))
            )
            if accepted:
                plan = response.json()
                assert (plan["attempt"], plan["status"]) == (model.attempt, "in_progress")
                assert (plan["resume_from_state"] or 0) == start[0], plan
            self._check(build, accepted)

        @rule(build=builds)
        def cancel(self, build: str) -> None:
            response = client.post(f"/builds/{build}/cancel", headers=ADMIN, json={})
            model = self.models[build]
            accepted = self._expect(response, 200, model.cancel)
            if accepted:
                assert response.json()["status"] == "cancelled"
            self._check(build, accepted)

        def teardown(self) -> None:
            for build in self.models:  # every build still matches at the end
                self._check(build, accepted=False)
            self._check_counters()

        # -- helpers -------------------------------------------------------------------
        def _check_counters(self) -> None:
            """The totals kept by counters equal the rows counted: a filter on
            ``created_after`` makes the server count rows instead."""

            def total(**params: str) -> int:
                response = client.get("/builds", headers=ADMIN, params=params)
                assert response.status_code == 200, response.text
                return int(response.headers["x-total-count"])

            scopes = [{"project_id": p} for p in (open_project, coded_project)]
            for scope in [*scopes, {"platform_id": "aws-commercial"}]:
                for status in ("pending", "in_progress", "completed", "failed", "cancelled"):
                    counted = total(**scope, status=status)
                    rows = total(**scope, status=status, created_after="2000-01-01T00:00:00Z")
                    assert counted == rows, (scope, status, counted, rows)

        def _create(self, coded: bool) -> str:
            report.COUNTS[("model steps", name)] += 1
            build = made(
                client.post(
                    "/builds",
                    headers=ADMIN,
                    json={
                        "project_id": coded_project if coded else open_project,
                        "platform_id": "aws-commercial",
                        "os_version_id": "rhel-9.3",
                        "image_type_id": "base",
                        "build_number": f"model-{next(numbers)}",
                    },
                )
            )
            self.models[build["id"]] = Model(coded=coded)
            self._check(build["id"], accepted=True)
            return str(build["id"])

        def _fenced(self, response: Any, model: Model, attempt: int | None) -> None:
            """A report naming another attempt is told which one is current."""
            if attempt is not None and attempt != model.attempt:
                assert response.status_code == 409, response.text
                current = f"the current attempt is {model.attempt} (build {model.status})"
                assert current in response.json()["detail"]

        def _expect(self, response: Any, ok: int, apply: Any) -> bool:
            """Apply the transition to the model; the API must agree on the outcome."""
            report.COUNTS[("model steps", name)] += 1
            expected = ok
            try:
                apply()
            except Refused as refused:
                expected = refused.status
                report.COUNTS[(f"model steps refused with {expected}", name)] += 1
            assert response.status_code == expected, (
                f"model says {expected}, API says {response.status_code}: {response.text}"
            )
            return expected == ok

        def _check(self, build: str, accepted: bool) -> None:
            model = self.models[build]
            view = made(client.get(f"/builds/{build}/state", headers=ADMIN), 200)
            history = [
                (h["state_code"], h["status"], h["attempt"], h["message"], h["timestamp"])
                for h in view["history"]
            ]
            previous = model.history
            # Append-only: the old history is a prefix; one new row per accepted write.
            assert history[: len(previous)] == previous, "history was rewritten"
            assert len(history) == len(previous) + (1 if accepted else 0), history
            if not previous:
                assert history[0][:3] == (0, "pending", 1)
            model.history = history
            # current_state is the newest row; the build is what the model says.
            assert view["current_state"] == history[-1][0]
            assert (view["status"], view["current_state"], view["attempt"]) == (
                model.status,
                model.current,
                model.attempt,
            ), (view, model)
            assert history[-1][2] == model.attempt
            # Within an attempt codes never go down; attempts only grow.
            for (code, _, attempt, _, _), (next_code, _, next_attempt, _, _) in pairwise(history):
                assert next_attempt >= attempt, history
                if next_attempt == attempt:
                    assert next_code >= code, history
            # Frozen builds stay frozen: no row after the one that froze them.
            if model.status in FROZEN:
                if model.frozen_rows is None:
                    model.frozen_rows = len(history)
                assert len(history) == model.frozen_rows, history

    return BuildLifecycle


def test_build_lifecycle_follows_the_rules(client: TestClient, backend: str) -> None:
    machine = make_machine(client, backend)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max(1, -(-STEPS // 40)),  # a run averages ~40 of its 50 steps
            stateful_step_count=STEPS_PER_RUN,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    assert report.COUNTS[("model steps", db_name(backend))] > 0
