"""Figures the security suite prints at the end of a run (docs/security.md quotes them).

A test records an item only once its assertions have passed, so a printed count is a count of
cases that held. The cases that did not hold are counted from the tests that failed: a test
marked `@pytest.mark.figure(kind)` is one case of that kind (conftest.py notes each such test
that runs), so a failed one shows up as failed instead of missing from the count. Under xdist
(make check) each worker records its own tests and hands them to the controller at its end."""

from collections import defaultdict

FIGURES: dict[str, list] = defaultdict(list)
# Ids of the tests that ran, by the kind of their `figure` marker.
FIGURE_TESTS: dict[str, set[str]] = defaultdict(set)
# Examples each fuzz test asked for and ran, by test id (tests/security/test_fuzz_forms.py).
FUZZ_RAN: dict[str, list[int]] = {}


def record(kind: str, item) -> None:
    FIGURES[kind].append(item)


def export() -> dict:
    """What this process recorded, in types execnet sends (an xdist worker hands it to the
    controller, which prints the figures: conftest.py)."""
    return {
        "figures": {kind: list(items) for kind, items in FIGURES.items()},
        "figure_tests": {kind: sorted(ids) for kind, ids in FIGURE_TESTS.items()},
        "fuzz_ran": {test: list(counts) for test, counts in FUZZ_RAN.items()},
    }


def merge(recorded: dict) -> None:
    """Add what a worker recorded (export()) to this process's figures."""
    for kind, items in recorded["figures"].items():
        FIGURES[kind].extend(tuple(item) if isinstance(item, list) else item for item in items)
    for kind, ids in recorded["figure_tests"].items():
        FIGURE_TESTS[kind].update(ids)
    FUZZ_RAN.update(recorded["fuzz_ran"])


def summary_lines(failed: set[str]) -> list[str]:
    """`failed`: the ids of the tests that failed (or errored) in this run."""
    lines = []
    if matrix := FIGURES.get("url matrix"):
        # (role, URLs, cells, unexpected cells) per role; a role whose test failed before it
        # could count is named apart, never silently left out of the total.
        urls = max(item[1] for item in matrix)
        not_counted = len(FIGURE_TESTS["url matrix"] & failed) - sum(1 for m in matrix if m[3])
        line = (
            f"URL x role matrix: {urls} URLs x {len(matrix)} roles x 2 methods = "
            f"{sum(item[2] for item in matrix)} cells, {sum(item[3] for item in matrix)} unexpected"
        )
        if not_counted > 0:
            line += f"; {not_counted} roles failed before counting"
        lines.append(line)
    hostile = FIGURES.get("hostile upload", [])
    if hostile or FIGURE_TESTS["hostile upload"]:
        # A hostile file accepted fails its test, as does one refused for the wrong reason or
        # too slowly: each of those is a case that did not hold.
        not_refused = len(FIGURE_TESTS["hostile upload"] & failed)
        line = f"hostile uploads: {len(hostile)} refused, {not_refused} not refused as expected"
        if hostile:
            seconds, slowest = max(hostile)
            line += f", slowest {seconds:.2f} s ({slowest})"
        lines.append(line)
    if tampered := FIGURES.get("tamper case"):
        lines.append(f"audit tampering: {len(tampered)} cases detected ({', '.join(tampered)})")
    if verdicts := FIGURES.get("signature verdicts"):
        # One row per signed order of the test CA (tests/requests_app/test_signed_orders.py).
        header = (
            "document",
            "signer",
            "intact",
            "time-stamped",
            "valid at signing",
            "trusted",
            "qualified",
            "of the authority",
            "risk signals",
        )
        rows = [header, *verdicts]
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
        lines.append(f"signed orders: {len(verdicts)} verdicts of the test CA's signers")
        for row in rows:
            cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            lines.append(("  " + "  ".join(cells)).rstrip())
    elif FIGURE_TESTS["signature verdicts"] & failed:
        lines.append("signed orders: the verdicts' test failed (no table)")
    schemathesis = FIGURES.get("schemathesis", [])
    if schemathesis or FIGURE_TESTS["schemathesis"]:
        # (part, operations, examples) per test (tests/api/test_api_schemathesis.py); a test
        # that failed is a failure, whichever check it was.
        operations = max((item[1] for item in schemathesis), default=0)
        examples = sum(item[2] for item in schemathesis)
        failures = len(FIGURE_TESTS["schemathesis"] & failed)
        lines.append(
            f"schemathesis: {operations} operations, {examples:,} examples, {failures} failures"
        )
    if FUZZ_RAN:
        ran = {test: count for test, (_, count) in FUZZ_RAN.items()}
        fewest = min(ran, key=ran.get)
        lines.append(
            f"form fuzzing: {len(ran)} tests, {sum(ran.values()):,} examples passed, "
            f"{len(failed & ran.keys())} tests failed; "
            f"fewest {ran[fewest]:,} ({fewest.split('::', 1)[1]})"
        )
    return lines
