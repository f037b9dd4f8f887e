"""Reliability and security suites (run: ``pytest tests/reliability [--backend sqlite]``).

- ``test_schemathesis.py``: schemathesis over every operation of ``/openapi.json`` with
  read, write and admin credentials, then its stateful phase.
- ``test_crash.py`` (harness in ``crash.py``): ``kill -9`` during bursts of transitions; no
  acknowledged write lost or duplicated.
- ``test_statemachine_model.py``: a Hypothesis state machine against a model of the rules.
- ``test_login_timing.py``: ``POST /token`` does not reveal whether a user exists.

Budgets (defaults in brackets) can be raised for a longer run:
``BUILDSTATE_SCHEMATHESIS_EXAMPLES`` [50 per operation], ``BUILDSTATE_SCHEMATHESIS_COVERAGE``
[0: off], ``BUILDSTATE_STATEFUL_SCENARIOS`` [6 per credential], ``BUILDSTATE_CRASH_TRIALS``
[5 per database], ``BUILDSTATE_STATEFUL_STEPS`` [300 per database],
``BUILDSTATE_TIMING_TRIES`` [200]. The terminal summary says what actually ran.
"""
