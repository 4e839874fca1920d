"""System checks of the instrument table against the law (registered in apps.py).

The internal deadline (platform policy: the rule's fixed deadline or its PORTAL_DEADLINE_MINUTES
setting) must never be later than the legal time limit (deadlines.legal_deadline). A period of N
days under Regulation 1182/71 ends at the end of the N-th day after the day of receipt, so it
always leaves more than N x 24 hours from receipt but for the hour lost at a spring clock change
(docs/instruments.md, "Legal time limits"); a period of N hours always leaves more than N hours.
So an internal time allowed of at most N days, or N hours, is refused nothing; a longer one is
an error and the portal does not start.
"""

from collections.abc import Mapping
from pathlib import Path

from django.core import checks

from .instruments import RULES, InstrumentRule

LATER_THAN_THE_LAW = "requests_app.E001"
SETTING_MISSING = "requests_app.E002"
NOT_A_MEMBER_STATE = "requests_app.E003"
NO_SEAL = "requests_app.E004"
NO_DEMO_SEAL_YET = "requests_app.W004"
UNKNOWN_SIGNATURE_INSTRUMENT = "requests_app.E005"
TRUST_ANCHOR_UNUSABLE = "requests_app.E006"
NO_MASTER_KEY = "requests_app.E007"
NO_DEMO_MASTER_KEY_YET = "requests_app.W007"


def check_signature_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS names instruments by code, and every file of
    PORTAL_SIGNATURE_TRUST_ANCHORS is readable PEM: a typo must not quietly require nothing,
    or trust nothing (docs/security.md, "Signature verification")."""
    from cryptography import x509
    from django.conf import settings

    from authorities.constants import Instrument

    problems: list[checks.CheckMessage] = [
        checks.Error(
            f"PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS names {code!r}, not an instrument code.",
            hint="Use codes such as " + ", ".join(Instrument.values) + ".",
            id=UNKNOWN_SIGNATURE_INSTRUMENT,
        )
        for code in settings.PORTAL_SIGNATURE_REQUIRED_INSTRUMENTS
        if code not in Instrument.values
    ]
    for name in settings.PORTAL_SIGNATURE_TRUST_ANCHORS:
        try:
            x509.load_pem_x509_certificates(Path(name).read_bytes())
        except (OSError, ValueError) as error:
            problems.append(
                checks.Error(
                    f"PORTAL_SIGNATURE_TRUST_ANCHORS: {name} is not a readable PEM file of "
                    f"certificates ({error}).",
                    id=TRUST_ANCHOR_UNUSABLE,
                )
            )
    return problems


def check_seal(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every submission is sealed (receipts.py): without a usable seal the portal does not start.
    With DEBUG on and no seal yet, a warning: `make run` writes the demo seal first."""
    from django.conf import settings

    from .seal import SealUnavailable, seal_info

    try:
        seal_info()
    except SealUnavailable as problem:
        if settings.DEBUG and not Path(settings.PORTAL_SEAL_P12).exists():
            return [
                checks.Warning(
                    f"No seal yet: {problem}",
                    hint="Run `manage.py make_demo_seal` (make run does).",
                    id=NO_DEMO_SEAL_YET,
                )
            ]
        return [
            checks.Error(
                f"The platform's seal cannot be used: {problem}",
                hint="Set PORTAL_SEAL_P12 to the seal's PKCS#12 file and PORTAL_SEAL_PASSPHRASE "
                "to its passphrase (docs/receipts.md).",
                id=NO_SEAL,
            )
        ]
    return []


def check_master_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every stored document and produced file is encrypted under a data key the master keys
    wrap (custody.py): without usable keys the portal does not start. With DEBUG on and none
    yet, a warning: `make run` writes a demo key first."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from .custody import master_keys

    try:
        master_keys()
    except ImproperlyConfigured as problem:
        if settings.DEBUG and not settings.PORTAL_MASTER_KEYS:
            return [
                checks.Warning(
                    f"No master key yet: {problem}",
                    hint="Run `manage.py make_demo_master_key` (make run does).",
                    id=NO_DEMO_MASTER_KEY_YET,
                )
            ]
        return [
            checks.Error(
                str(problem),
                hint="Set PORTAL_MASTER_KEYS to one or more Fernet keys, newest first "
                '(docs/security.md, "Custody: encryption at rest and purge").',
                id=NO_MASTER_KEY,
            )
        ]
    return []


def check_enforcing_state(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """PORTAL_ENFORCING_STATE names the Member State whose authority enforces e-Evidence orders
    (Art. 8) and whose calendar counts the legal time limits: an EU Member State code."""
    from django.conf import settings

    from authorities.constants import EU_MEMBER_STATES

    state = settings.PORTAL_ENFORCING_STATE
    if state in EU_MEMBER_STATES:
        return []
    return [
        checks.Error(
            f"PORTAL_ENFORCING_STATE is {state!r}, not the code of an EU Member State.",
            hint="Use ISO 3166-1 alpha-2 (Greece is GR), e.g. IE, the State of the platform's "
            "legal representative.",
            id=NOT_A_MEMBER_STATE,
        )
    ]


def check_legal_time_limits(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return legal_time_limit_problems(RULES)


def legal_time_limit_problems(rules: Mapping[str, InstrumentRule]) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    seen: set[tuple] = set()
    for code, rule in rules.items():
        if rule.always_emergency:
            cases = (True,)
        elif rule.emergency_allowed:
            cases = (False, True)
        else:
            cases = (False,)
        for emergency in cases:
            period = rule.legal_period_for(emergency=emergency)
            if period is None:
                continue
            setting = _setting_used(rule, emergency=emergency)
            try:
                allowed = rule.time_allowed(emergency=emergency)
            except KeyError:
                problems.append(
                    checks.Error(
                        f"{rule.label}: PORTAL_DEADLINE_MINUTES has no {setting!r}, and the law "
                        f"sets {period} ({period.source}).",
                        id=SETTING_MISSING,
                    )
                )
                continue
            if allowed <= period.nominal or (code, allowed, period) in seen:
                continue
            seen.add((code, allowed, period))
            where = (
                f"Set PORTAL_DEADLINE_MINUTES[{setting!r}] to at most "
                f"{int(period.nominal.total_seconds()) // 60} minutes."
                if setting
                else f"Shorten the deadline of {code!r} in requests_app/instruments.py (RULES)."
            )
            problems.append(
                checks.Error(
                    f"{rule.label}{' (emergency)' if emergency else ''}: the internal deadline "
                    f"allows {allowed}, later than the legal time limit of {period} "
                    f"({period.source}).",
                    hint=where,
                    obj=code,
                    id=LATER_THAN_THE_LAW,
                )
            )
    return problems


def _setting_used(rule: InstrumentRule, *, emergency: bool) -> str | None:
    """The PORTAL_DEADLINE_MINUTES key rule.time_allowed reads in this case (None: a fixed one)."""
    if emergency and rule.emergency_deadline is not None:
        return None
    if rule.deadline is not None:
        return None
    return rule.deadline_setting
