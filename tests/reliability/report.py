"""What the reliability suites ran, for the terminal summary (see conftest)."""

from __future__ import annotations

from collections import Counter, defaultdict

EXAMPLES: Counter[tuple[str, str, str]] = Counter()  # (backend, operation, credential)
STEPS: Counter[tuple[str, str]] = Counter()  # (backend, credential) stateful schemathesis
COUNTS: Counter[tuple[str, str]] = Counter()  # (what, backend)
NOTES: list[str] = []


def lines() -> list[str]:
    out: list[str] = []
    per_op: dict[str, Counter[str]] = defaultdict(Counter)
    for (backend, operation, _), n in EXAMPLES.items():
        per_op[backend][operation] += n
    for backend, ops in sorted(per_op.items()):
        counts = sorted(ops.values())
        by_scope: Counter[str] = Counter()
        for (b, _, scope), n in EXAMPLES.items():
            if b == backend:
                by_scope[scope] += n
        out.append(
            f"schemathesis [{backend}]: {len(ops)} operations, {sum(counts)} requests; "
            f"per operation min {counts[0]}, median {counts[len(counts) // 2]}, "
            f"max {counts[-1]}; by credential {dict(sorted(by_scope.items()))}"
        )
        few = [f"{op} ({n})" for op, n in sorted(ops.items()) if n < 50]
        if few:
            out.append(f"  fewer than 50: {', '.join(few)}")
    for (backend, scope), n in sorted(STEPS.items()):
        out.append(f"schemathesis stateful [{backend}] {scope}: {n} calls")
    for (what, backend), n in sorted(COUNTS.items()):
        out.append(f"{what} [{backend}]: {n}")
    out.extend(NOTES)
    return out
