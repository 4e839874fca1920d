"""The one table of legal instruments: what each requires, its clock, and who may issue it.

docs/instruments.md explains each rule with its legal source. The form, the power check, the
deadline function and the review screens all read this table; nothing else encodes these rules.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import models
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext_lazy as _

from authorities.constants import AuthorityKind, Instrument


class DataCategory(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber data")
    IDENTIFICATION = (
        "identification",
        _("Data requested only to identify the user (e.g. IP addresses)"),
    )
    TRAFFIC = "traffic", _("Traffic data")
    CONTENT = "content", _("Content data")
    CONTENT_REMOVAL = "content_removal", _("Removal or disabling of content")
    INFORMATION = "information", _("Specific information about named recipients of the service")


SENSITIVE_CATEGORIES = frozenset({DataCategory.TRAFFIC, DataCategory.CONTENT})
LESS_SENSITIVE_CATEGORIES = frozenset({DataCategory.SUBSCRIBER, DataCategory.IDENTIFICATION})
EVIDENCE_CATEGORIES = SENSITIVE_CATEGORIES | LESS_SENSITIVE_CATEGORIES

# Form fields an instrument may require (names of LegalRequest fields / form fields).
CASE_REFERENCE = "case_reference"
LEGAL_BASIS = "legal_basis"
OFFENCE = "offence"
TARGETS = "targets"
DATA_CATEGORIES = "data_categories"
PERIOD = "period"
REASONS = "statement_of_reasons"
REDRESS = "redress_information"
TERRITORIAL_SCOPE = "territorial_scope"
EMERGENCY_JUSTIFICATION = "emergency_justification"
DOCUMENTS = "documents"
CONFIDENTIAL = "confidential"


class Answer(StrEnum):
    """How the platform answers an instrument: the review actions each one offers
    (requests_app.policies reads InstrumentRule.answers; nothing else decides)."""

    PRODUCED_DATA = "produced_data"  # files, through expiring and audited downloads (respond)
    REMOVAL = "removal"  # the content removed or access to it disabled, confirmed (no file)
    TEXT = "text"  # a written answer on the request's page (no data is disclosed)


@dataclass(frozen=True)
class LegalPeriod:
    """A time limit the law itself sets, in days or in hours (never both), counted from receipt
    under Regulation (EEC, Euratom) No 1182/71 by deadlines.legal_deadline. `source` names the
    article (English; docs/instruments.md, "Legal time limits", quotes it)."""

    source: str
    days: int = 0
    hours: int = 0

    def __post_init__(self) -> None:
        if self.days < 0 or self.hours < 0 or (self.days > 0) == (self.hours > 0):
            raise ValueError("A legal period is a positive number of days or of hours.")

    @property
    def nominal(self) -> timedelta:
        """N days or N hours: what the internal deadline may allow at most (checks.py)."""
        return timedelta(days=self.days, hours=self.hours)

    def __str__(self) -> str:
        return f"{self.days} days" if self.days else f"{self.hours} hours"


@dataclass(frozen=True)
class PreservationRule:
    """How long a preservation order keeps data (e-Evidence Art. 11; docs/instruments.md,
    "Preservation"): `days` from receipt, extended once by `extension_days` (Annex VI) while it
    runs; without end once the issuing authority confirms a production request (Annex V);
    ended early when the issuing authority says it is no longer needed (Art. 11(3)).
    requests_app.preservation.preservation_state reads it; nothing else encodes these numbers."""

    source: str
    days: int = 60
    extension_days: int = 30
    extensions: int = 1


@dataclass(frozen=True)
class ExPostValidation:
    """An emergency order issued without prior validation is validated afterwards, within
    `hours` of its issuance (e-Evidence Art. 4(5)); the officer and the legal team are reminded
    at `reminder_hours`. requests_app.ex_post_validation.validation_state reads it."""

    source: str
    hours: int = 48
    reminder_hours: int = 36

    @property
    def period(self) -> timedelta:
        return timedelta(hours=self.hours)

    @property
    def reminder(self) -> timedelta:
        return timedelta(hours=self.reminder_hours)


@dataclass(frozen=True)
class InstrumentRule:
    code: str
    label: str
    legal_source: str  # English; pages and messages show gettext(legal_source)
    required: frozenset[str]
    categories: frozenset[str]
    issuer_kinds: frozenset[str]
    # The deadline: a fixed duration (the law's), or a settings key (platform policy).
    deadline: timedelta | None = None
    deadline_setting: str | None = None
    emergency_deadline: timedelta | None = None
    emergency_allowed: bool = False
    always_emergency: bool = False
    # e-Evidence: categories the issuer's kind may order without a validating authority.
    direct_categories_by_kind: dict[str, frozenset[str]] = field(default_factory=dict)
    # e-Evidence Art. 4(5): categories an emergency order may carry before it is validated.
    emergency_unvalidated_categories: frozenset[str] = frozenset()
    # e-Evidence Art. 5(4): categories only for offences of at least 3 years (production only;
    # a preservation order may be issued for all criminal offences, Art. 6(3)).
    threshold_categories: frozenset[str] = frozenset()
    evidence_rules: bool = False  # e-Evidence power and threshold rules apply
    target_kinds: frozenset[str] = frozenset({"username", "phone", "url", "account_id"})
    # The legal time limit (deadlines.legal_deadline), beside the internal deadline above; None
    # where the law sets no fixed period ("without undue delay", or no legal duty at all).
    legal_period: LegalPeriod | None = None
    emergency_legal_period: LegalPeriod | None = None
    # e-Evidence Art. 11: the preservation lifecycle of a preservation order (None: not one).
    preservation: PreservationRule | None = None
    # e-Evidence Art. 4(5): the ex post validation of an emergency order issued without one.
    ex_post_validation: ExPostValidation | None = None
    # e-Evidence Art. 8(1): categories whose order is notified to the enforcing authority
    # (unless the Art. 8(2) statement); Art. 10(2), 12(1): its window, during which no data go.
    notified_categories: frozenset[str] = frozenset()
    enforcing_hold: timedelta | None = None
    emergency_enforcing_hold: timedelta | None = None
    # One line on the instrument choice: when to use it (English; pages show gettext()).
    when_to_use: str = ""
    # How the platform answers it (Answer): data go only as produced files, never in a text
    # answer, which stays on the page for good; a removal order is answered by the removal.
    answers: frozenset[str] = frozenset({Answer.PRODUCED_DATA})
    # A short form: the officer is asked what `required` names and these optional fields, no
    # more (an emergency has no time for an order's legal basis, language or validation).
    # None: the full form an order needs (forms.LegalRequestForm adds what the rules call for).
    optional_fields: frozenset[str] | None = None
    # How long the portal keeps a request's files once their use is over (the download window
    # of produced data, the end of the request for its documents), in days, where the law sets
    # its own period; None: the platform's PORTAL_RETENTION_DAYS (requests_app/retention.py).
    retention_days: int | None = None

    @property
    def offers_emergency(self) -> bool:
        """An emergency instrument, or one with an emergency variant: shown first and apart."""
        return self.always_emergency or self.emergency_allowed

    def deadline_text(self, *, emergency: bool) -> str:
        """The deadline an instrument card states: the legal time limit where the law sets one,
        else the platform's internal target (both from this rule, nowhere else)."""
        legal = self.legal_period_for(emergency=emergency)
        if legal is not None:
            amount = (
                ngettext("%(n)d day", "%(n)d days", legal.days) % {"n": legal.days}
                if legal.days
                else ngettext("%(n)d hour", "%(n)d hours", legal.hours) % {"n": legal.hours}
            )
            return gettext("Legal time limit: %(amount)s") % {"amount": amount}
        return gettext("Answer target: %(amount)s") % {
            "amount": duration_text(self.time_allowed(emergency=emergency))
        }

    def hold_for(self, *, emergency: bool) -> timedelta | None:
        """How long a notified order waits for the enforcing authority (docs/instruments.md)."""
        if emergency and self.emergency_enforcing_hold is not None:
            return self.emergency_enforcing_hold
        return self.enforcing_hold

    def legal_period_for(self, *, emergency: bool) -> LegalPeriod | None:
        if emergency and self.emergency_legal_period is not None:
            return self.emergency_legal_period
        return self.legal_period

    def time_allowed(self, *, emergency: bool) -> timedelta:
        if emergency and self.emergency_deadline is not None:
            return self.emergency_deadline
        if self.deadline is not None:
            return self.deadline
        return timedelta(minutes=settings.PORTAL_DEADLINE_MINUTES[self.deadline_setting])


def duration_text(allowed: timedelta) -> str:
    """14 days, 24 hours, 60 minutes: the largest whole unit."""
    minutes = int(allowed.total_seconds() // 60)
    if minutes and minutes % (24 * 60) == 0 and minutes > 24 * 60:
        days = minutes // (24 * 60)
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if minutes and minutes % 60 == 0:
        return ngettext("%(n)d hour", "%(n)d hours", minutes // 60) % {"n": minutes // 60}
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


COMMON = frozenset({CASE_REFERENCE, LEGAL_BASIS, REASONS})

RULES: dict[str, InstrumentRule] = {
    Instrument.EPOC: InstrumentRule(
        code=Instrument.EPOC,
        label=Instrument.EPOC.label,
        legal_source=gettext_noop("e-Evidence Regulation (EU) 2023/1543, Art. 4, 5, 10"),
        required=COMMON | {OFFENCE, TARGETS, DATA_CATEGORIES, PERIOD, DOCUMENTS},
        categories=EVIDENCE_CATEGORIES,
        issuer_kinds=frozenset(AuthorityKind.values) - {AuthorityKind.REGULATOR},
        deadline=timedelta(days=10),
        emergency_deadline=timedelta(hours=8),
        legal_period=LegalPeriod(
            days=10, source="e-Evidence Regulation (EU) 2023/1543, Art. 10(2), 10(3)"
        ),
        emergency_legal_period=LegalPeriod(
            hours=8, source="e-Evidence Regulation (EU) 2023/1543, Art. 10(4)"
        ),
        emergency_allowed=True,
        direct_categories_by_kind={
            AuthorityKind.COURT: EVIDENCE_CATEGORIES,
            AuthorityKind.INVESTIGATING_JUDGE: EVIDENCE_CATEGORIES,
            AuthorityKind.PROSECUTOR: LESS_SENSITIVE_CATEGORIES,
        },
        emergency_unvalidated_categories=LESS_SENSITIVE_CATEGORIES,
        ex_post_validation=ExPostValidation(
            source="e-Evidence Regulation (EU) 2023/1543, Art. 4(5)"
        ),
        threshold_categories=SENSITIVE_CATEGORIES,
        evidence_rules=True,
        notified_categories=SENSITIVE_CATEGORIES,
        enforcing_hold=timedelta(days=10),
        emergency_enforcing_hold=timedelta(hours=96),
        when_to_use=gettext_noop(
            "Evidence in criminal proceedings: subscriber, traffic or content data "
            "(also in an emergency)."
        ),
    ),
    Instrument.EPOC_PR: InstrumentRule(
        code=Instrument.EPOC_PR,
        label=Instrument.EPOC_PR.label,
        legal_source=gettext_noop("e-Evidence Regulation (EU) 2023/1543, Art. 4(3), 11"),
        required=COMMON | {OFFENCE, TARGETS, DATA_CATEGORIES, PERIOD, DOCUMENTS},
        categories=EVIDENCE_CATEGORIES,
        issuer_kinds=frozenset(AuthorityKind.values) - {AuthorityKind.REGULATOR},
        deadline_setting="epoc_pr_confirm",
        direct_categories_by_kind={
            AuthorityKind.COURT: EVIDENCE_CATEGORIES,
            AuthorityKind.INVESTIGATING_JUDGE: EVIDENCE_CATEGORIES,
            AuthorityKind.PROSECUTOR: EVIDENCE_CATEGORIES,
        },
        emergency_unvalidated_categories=EVIDENCE_CATEGORIES,
        evidence_rules=True,
        preservation=PreservationRule(
            source="e-Evidence Regulation (EU) 2023/1543, Art. 11; Annexes V and VI"
        ),
        when_to_use=gettext_noop(
            "Keep data from being deleted while you obtain a production order."
        ),
    ),
    Instrument.TCO_REMOVAL: InstrumentRule(
        code=Instrument.TCO_REMOVAL,
        label=Instrument.TCO_REMOVAL.label,
        legal_source=gettext_noop("TCO Regulation (EU) 2021/784, Art. 3"),
        required=COMMON | {TARGETS, DOCUMENTS},
        categories=frozenset({DataCategory.CONTENT_REMOVAL}),
        issuer_kinds=frozenset(AuthorityKind.values),
        deadline=timedelta(hours=1),
        legal_period=LegalPeriod(hours=1, source="TCO Regulation (EU) 2021/784, Art. 3(3)"),
        target_kinds=frozenset({"url"}),  # the content to remove, by its link
        when_to_use=gettext_noop(
            "Terrorist content online to be removed or disabled within one hour."
        ),
        # Art. 3(6): the provider informs the authority of the removal and of its time.
        answers=frozenset({Answer.REMOVAL}),
        # Art. 6(1): content removed and its related data are kept six months (longer on an
        # authority's request: a legal hold). 183 days covers any six months.
        retention_days=183,
    ),
    Instrument.DSA_ART9: InstrumentRule(
        code=Instrument.DSA_ART9,
        label=Instrument.DSA_ART9.label,
        legal_source=gettext_noop("Digital Services Act (EU) 2022/2065, Art. 9"),
        required=COMMON | {TARGETS, REDRESS, TERRITORIAL_SCOPE, DOCUMENTS},
        categories=frozenset({DataCategory.CONTENT_REMOVAL}),
        issuer_kinds=frozenset(AuthorityKind.values),
        deadline_setting="dsa_art9",
        target_kinds=frozenset({"url", "username", "account_id"}),
        when_to_use=gettext_noop("Illegal content that must be acted against in your territory."),
        # Art. 9(1): the provider informs the authority of the effect given to the order.
        answers=frozenset({Answer.REMOVAL}),
    ),
    Instrument.DSA_ART10: InstrumentRule(
        code=Instrument.DSA_ART10,
        label=Instrument.DSA_ART10.label,
        legal_source=gettext_noop("Digital Services Act (EU) 2022/2065, Art. 10"),
        required=COMMON | {TARGETS, REDRESS, DOCUMENTS},
        categories=frozenset({DataCategory.INFORMATION}),
        issuer_kinds=frozenset(AuthorityKind.values),
        deadline_setting="dsa_art10",
        when_to_use=gettext_noop("Information about specific, named recipients of the service."),
    ),
    Instrument.EMERGENCY_DISCLOSURE: InstrumentRule(
        code=Instrument.EMERGENCY_DISCLOSURE,
        label=Instrument.EMERGENCY_DISCLOSURE.label,
        legal_source=gettext_noop(
            "Platform policy (voluntary disclosure, imminent threat to life)"
        ),
        required=frozenset({CASE_REFERENCE, REASONS, TARGETS, DATA_CATEGORIES})
        | {EMERGENCY_JUSTIFICATION},
        categories=EVIDENCE_CATEGORIES,
        issuer_kinds=frozenset(
            {
                AuthorityKind.COURT,
                AuthorityKind.INVESTIGATING_JUDGE,
                AuthorityKind.PROSECUTOR,
                AuthorityKind.POLICE,
                AuthorityKind.TCO_AUTHORITY,
            }
        ),
        deadline_setting="emergency_disclosure",
        always_emergency=True,
        # Supporting material if the officer has it (a screenshot of the threat), and keeping
        # the user from being told; the call-back goes to the registry number, never one typed.
        optional_fields=frozenset({DOCUMENTS, CONFIDENTIAL}),
        when_to_use=gettext_noop(
            "An imminent threat to life or of serious physical harm, "
            "when there is no time for an order."
        ),
    ),
    Instrument.INQUIRY: InstrumentRule(
        code=Instrument.INQUIRY,
        label=Instrument.INQUIRY.label,
        legal_source=gettext_noop(
            "Platform policy (general questions; no data is disclosed on an inquiry)"
        ),
        required=frozenset({REASONS}),
        categories=frozenset(),
        issuer_kinds=frozenset(AuthorityKind.values),
        deadline_setting="inquiry",
        when_to_use=gettext_noop("A general question to the legal team; no data is disclosed."),
        answers=frozenset({Answer.TEXT}),
    ),
}

# Instruments whose arrival alerts the legal team at once (TCO: one hour; emergencies).
URGENT_INSTRUMENTS = frozenset({Instrument.TCO_REMOVAL, Instrument.EMERGENCY_DISCLOSURE})


def rule_for(code: str) -> InstrumentRule:
    return RULES[code]


def is_known(code: str) -> bool:
    """False for a code the rule table no longer has (a retired instrument, a bad manual edit):
    pages show such a request with the problem named instead of failing."""
    return code in RULES


def is_emergency(code: str, emergency_flag: bool) -> bool:
    rule = RULES[code]
    return rule.always_emergency or (rule.emergency_allowed and emergency_flag)


def issued_without_prior_validation(
    *,
    instrument: str,
    authority_kind: str,
    categories: list[str],
    validating_authority: str,
    emergency: bool,
) -> bool:
    """An emergency order that names no validating authority for data the issuer's kind may not
    order itself (e-Evidence Art. 4(5)): the power check let it through because an emergency
    may be validated afterwards, so it must be, within ExPostValidation.hours."""
    rule = RULES[instrument]
    if rule.ex_post_validation is None or not emergency or validating_authority.strip():
        return False
    direct = rule.direct_categories_by_kind.get(authority_kind, frozenset())
    return any(category not in direct for category in categories)


def power_problems(
    *,
    authority,
    instrument: str,
    categories: list[str],
    validating_authority: str,
    emergency: bool,
    threshold_met: bool,
) -> dict[str, list[str]]:
    """Why this authority may not issue this request, by form field; empty when it may.

    1. The registry must list the instrument for the authority, and its kind must be one that may
       issue the instrument at all.
    2. Each data category must be one the instrument covers.
    3. e-Evidence (Art. 4): a category the authority's kind may not order directly needs a
       validating judge, court or investigating judge (or prosecutor for subscriber and
       identification data, and for any preservation order), except in an emergency, where
       validation may follow within 48 hours (Art. 4(5)) - for a production order only for
       subscriber and identification data, never for traffic or content data.
    4. e-Evidence (Art. 5(4)): a production order for traffic or content data only for offences
       punishable by at least 3 years, or listed offences.
    """
    rule = RULES[instrument]
    problems: dict[str, list[str]] = {}

    def add(field_name: str, message: str) -> None:
        problems.setdefault(field_name, []).append(message)

    if not authority.may_issue(instrument):
        add(
            "__all__",
            gettext(
                "The registry does not list %(instrument)s among the instruments "
                "%(authority)s may issue."
            )
            % {"instrument": rule.label, "authority": authority.name_en},
        )
    if authority.kind not in rule.issuer_kinds:
        add(
            "__all__",
            gettext("A %(kind)s may not issue %(instrument)s (%(source)s).")
            % {
                "kind": authority.get_kind_display().lower(),
                "instrument": rule.label,
                "source": gettext(rule.legal_source),
            },
        )
    for category in categories:
        if category not in rule.categories:
            add(
                "data_categories",
                gettext("%(category)s is not covered by %(instrument)s.")
                % {"category": DataCategory(category).label, "instrument": rule.label},
            )
    if rule.evidence_rules:
        direct = rule.direct_categories_by_kind.get(authority.kind, frozenset())
        needs_validation = [c for c in categories if c not in direct]
        if emergency:
            needs_validation = [
                c for c in needs_validation if c not in rule.emergency_unvalidated_categories
            ]
        if needs_validation and not validating_authority.strip():
            names = ", ".join(DataCategory(c).label.lower() for c in needs_validation)
            # The validators are those who may issue these categories themselves (Art. 4(1)-(3)).
            prosecutor_may = rule.direct_categories_by_kind.get(
                AuthorityKind.PROSECUTOR, frozenset()
            )
            who = (
                gettext("a judge, court, investigating judge or public prosecutor")
                if set(needs_validation) <= prosecutor_may
                else gettext("a judge, court or investigating judge")
            )
            emergency_note = (
                gettext(" An emergency does not waive prior validation for these data (Art. 4(5)).")
                if emergency
                else ""
            )
            add(
                "validating_authority",
                gettext(
                    "%(categories)s ordered by a %(kind)s must be validated by %(who)s "
                    "(e-Evidence Regulation Art. 4). Name the validating authority."
                )
                % {
                    "categories": names.capitalize(),
                    "kind": authority.get_kind_display().lower(),
                    "who": who,
                }
                + emergency_note,
            )
        if set(categories) & rule.threshold_categories and not threshold_met:
            add(
                "threshold_met",
                gettext(
                    "Traffic and content data may only be ordered for offences punishable by a "
                    "maximum of at least 3 years, or listed offences (e-Evidence Regulation "
                    "Art. 5(4)). Confirm the offence meets this threshold."
                ),
            )
    return problems


def notification_problems(
    *,
    instrument: str,
    categories: list[str],
    notified: bool,
    statement: str,
    enforcing_authority,
    enforcing_state: str,
) -> dict[str, list[str]]:
    """e-Evidence Art. 8: why this order may not go as it stands, by form field; empty when it may.

    1. An order for traffic data (not data requested only to identify the user) or content data
       is notified to the enforcing authority, unless the issuing authority states the Art. 8(2)
       exception (the offence committed in the issuing State, the person residing there).
    2. A notified order names the enforcing authority: an active registry authority of the
       enforcing State marked as able to act as one.
    """
    rule = RULES[instrument]
    problems: dict[str, list[str]] = {}
    if not rule.notified_categories:
        return problems
    needs = [c for c in categories if c in rule.notified_categories]
    if needs and not notified and not statement.strip():
        problems.setdefault("enforcing_notified", []).append(
            gettext(
                "%(categories)s: notify the enforcing authority, or state why the Art. 8(2) "
                "exception applies (e-Evidence Regulation Art. 8)."
            )
            % {"categories": ", ".join(str(DataCategory(c).label) for c in needs)}
        )
    if notified and not (
        enforcing_authority is not None
        and enforcing_authority.enforcing
        and enforcing_authority.is_active
        and enforcing_authority.country == enforcing_state
    ):
        problems.setdefault("enforcing_authority", []).append(
            gettext(
                "Choose the enforcing authority: an authority of %(state)s that the registry "
                "lists as able to act as one (e-Evidence Regulation Art. 8)."
            )
            % {"state": enforcing_state}
        )
    return problems
