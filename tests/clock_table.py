"""The instruments' clocks, as the tests expect them: one table for the deadline, alert and
submission tests (test_deadlines.py, test_alerts.py, test_submission.py).

Written from the legal texts and the platform's documented policy (docs/instruments.md,
docs/deadlines.md), never from requests_app/instruments.py: it is the oracle the code's RULES
are compared with, so it must not be derived from them.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authorities.constants import Instrument

# The documented defaults of PORTAL_DEADLINE_MINUTES (docs/instruments.md, "internal" deadlines).
# Tests pin the setting to these, so that the environment cannot change what they expect.
POLICY_MINUTES = {
    "epoc_pr_confirm": 24 * 60,
    "dsa_art9": 24 * 60,
    "dsa_art10": 10 * 24 * 60,
    "emergency_disclosure": 60,
    "inquiry": 14 * 24 * 60,
}


@dataclass(frozen=True)
class Clock:
    """Time allowed from receipt. `emergency`: the shorter clock of an emergency, for an
    instrument that has one; `setting`: the PORTAL_DEADLINE_MINUTES key of a platform-policy
    deadline (None: the law fixes it, and no setting may change it)."""

    time_allowed: timedelta
    source: str
    emergency: timedelta | None = None
    setting: str | None = None

    def allowed(self, *, emergency: bool = False) -> timedelta:
        if emergency and self.emergency is not None:
            return self.emergency
        return self.time_allowed


def _policy(setting: str) -> timedelta:
    return timedelta(minutes=POLICY_MINUTES[setting])


CLOCKS: dict[str, Clock] = {
    Instrument.EPOC: Clock(
        timedelta(days=10),
        "e-Evidence Regulation (EU) 2023/1543 Art. 10(3); emergency: 8 hours, Art. 10(4)",
        emergency=timedelta(hours=8),
    ),
    Instrument.EPOC_PR: Clock(
        _policy("epoc_pr_confirm"),
        "platform policy: confirm the preservation (e-Evidence Art. 11 sets no time)",
        setting="epoc_pr_confirm",
    ),
    Instrument.TCO_REMOVAL: Clock(
        timedelta(hours=1),
        "TCO Regulation (EU) 2021/784 Art. 3(3): one hour, emergency or not",
    ),
    Instrument.DSA_ART9: Clock(
        _policy("dsa_art9"), "platform policy (DSA Art. 9: without undue delay)", setting="dsa_art9"
    ),
    Instrument.DSA_ART10: Clock(
        _policy("dsa_art10"),
        "platform policy (DSA Art. 10: without undue delay)",
        setting="dsa_art10",
    ),
    Instrument.EMERGENCY_DISCLOSURE: Clock(
        _policy("emergency_disclosure"),
        "platform policy: first decision on a threat to life (always an emergency)",
        setting="emergency_disclosure",
    ),
    Instrument.INQUIRY: Clock(_policy("inquiry"), "platform policy", setting="inquiry"),
}


def time_allowed(instrument: str, *, emergency: bool = False) -> timedelta:
    return CLOCKS[instrument].allowed(emergency=emergency)


def utc(*args: int) -> datetime:
    """A UTC datetime from its parts: utc(2026, 11, 20, 10)."""
    return datetime(*args, tzinfo=UTC)
