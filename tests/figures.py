"""Figures the security suite prints at the end of a run (docs/security.md quotes them).

A test records an item only once its assertions have passed, so a printed count is a count of
cases that held."""

from collections import defaultdict

FIGURES: dict[str, list] = defaultdict(list)


def record(kind: str, item) -> None:
    FIGURES[kind].append(item)


def summary_lines() -> list[str]:
    lines = []
    if hostile := FIGURES.get("hostile upload"):
        seconds, slowest = max(hostile)
        lines.append(
            f"hostile uploads: {len(hostile)} refused, 0 accepted, "
            f"slowest {seconds:.2f} s ({slowest})"
        )
    if tampered := FIGURES.get("tamper case"):
        lines.append(f"audit tampering: {len(tampered)} cases detected ({', '.join(tampered)})")
    return lines
