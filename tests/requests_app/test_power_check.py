"""Who may issue what: the power check against an independent statement of the law.

The matrix crosses every authority kind, every instrument and its data categories with the
facts that change the answer (the registry lists the instrument or not, a validating authority
is named or not, emergency or not, the Art. 5(4) threshold met or not). The expected problems
come from `law()` below, written from the Regulations, not from requests_app/instruments.py.
The authority is an unsaved model: no database.
"""

from collections import Counter, defaultdict
from itertools import product

import pytest

from authorities.constants import AuthorityKind, Instrument
from authorities.models import Authority
from requests_app.instruments import notification_problems, power_problems, rule_for

SUBSCRIBER, IDENTIFICATION, TRAFFIC, CONTENT = "subscriber", "identification", "traffic", "content"
EVIDENCE = (SUBSCRIBER, IDENTIFICATION, TRAFFIC, CONTENT)
VALIDATOR = "Juge d'instruction, Tribunal judiciaire de Paris"

# --- The law, stated independently -------------------------------------------------------------

# What each instrument may ask for.
COVERS = {
    Instrument.EPOC: EVIDENCE,
    Instrument.EPOC_PR: EVIDENCE,
    Instrument.TCO_REMOVAL: ("content_removal",),
    Instrument.DSA_ART9: ("content_removal",),
    Instrument.DSA_ART10: ("information",),
    Instrument.EMERGENCY_DISCLOSURE: EVIDENCE,
    Instrument.INQUIRY: (),
}

# Which kinds of authority may issue each instrument at all (the registry must also list it).
EVERY_KIND = frozenset(AuthorityKind.values)
MAY_ISSUE = {
    # e-Evidence orders are for criminal proceedings: not for regulators.
    Instrument.EPOC: EVERY_KIND - {AuthorityKind.REGULATOR},
    Instrument.EPOC_PR: EVERY_KIND - {AuthorityKind.REGULATOR},
    Instrument.TCO_REMOVAL: EVERY_KIND,
    Instrument.DSA_ART9: EVERY_KIND,
    Instrument.DSA_ART10: EVERY_KIND,
    # Platform policy: judicial authorities, police and TCO authorities only.
    Instrument.EMERGENCY_DISCLOSURE: frozenset(
        {
            AuthorityKind.COURT,
            AuthorityKind.INVESTIGATING_JUDGE,
            AuthorityKind.PROSECUTOR,
            AuthorityKind.POLICE,
            AuthorityKind.TCO_AUTHORITY,
        }
    ),
    Instrument.INQUIRY: EVERY_KIND,
}


def may_order_unvalidated(kind: str, instrument: str, category: str) -> bool:
    """e-Evidence Art. 4(1)-(3), point (a) of each: who may issue without validation."""
    if instrument == Instrument.EPOC_PR:  # Art. 4(3): any category
        return kind in (
            AuthorityKind.COURT,
            AuthorityKind.INVESTIGATING_JUDGE,
            AuthorityKind.PROSECUTOR,
        )
    if category in (SUBSCRIBER, IDENTIFICATION):  # Art. 4(1)
        return kind in (
            AuthorityKind.COURT,
            AuthorityKind.INVESTIGATING_JUDGE,
            AuthorityKind.PROSECUTOR,
        )
    return kind in (
        AuthorityKind.COURT,
        AuthorityKind.INVESTIGATING_JUDGE,
    )  # Art. 4(2): traffic and content


def emergency_may_skip_validation(instrument: str, category: str) -> bool:
    """e-Evidence Art. 4(5): a production order for subscriber or identification data, or a
    preservation order, may be issued before validation in an emergency (validated within
    48 hours). Never a production order for traffic or content data."""
    return instrument == Instrument.EPOC_PR or category in (SUBSCRIBER, IDENTIFICATION)


def law(*, kind, instrument, categories, listed, validated, emergency, threshold_met):
    """The problems the law finds, by form field, as the rule each one cites."""
    problems = defaultdict(list)
    if not listed:
        problems["__all__"].append("registry")
    if kind not in MAY_ISSUE[instrument]:
        problems["__all__"].append("kind")
    if instrument in (Instrument.EPOC, Instrument.EPOC_PR):
        unvalidated = [
            c
            for c in categories
            if not may_order_unvalidated(kind, instrument, c)
            and not (emergency and emergency_may_skip_validation(instrument, c))
        ]
        if unvalidated and not validated:
            problems["validating_authority"].append("Art. 4")
        # Art. 5(4) is a condition of production orders; preservation: all offences (Art. 6(3)).
        if (
            instrument == Instrument.EPOC
            and {TRAFFIC, CONTENT} & set(categories)
            and not threshold_met
        ):
            problems["threshold_met"].append("Art. 5(4)")
    return dict(problems)


def rule_cited(message: str, instrument: str) -> str:
    """Which rule a message of power_problems names."""
    if "The registry does not list" in message:
        return "registry"
    if " may not issue " in message and rule_for(instrument).legal_source in message:
        return "kind"
    if "(e-Evidence Regulation Art. 4)" in message:
        return "Art. 4"
    if "(e-Evidence Regulation Art. 5(4))" in message:
        return "Art. 5(4)"
    return f"unrecognised: {message}"


# --- The matrix -----------------------------------------------------------------------------------


def category_sets(instrument: str) -> list[tuple[str, ...]]:
    """None, each covered category alone, and all of them together."""
    covered = COVERS[instrument]
    sets = [(), *((c,) for c in covered)]
    if len(covered) > 1:
        sets.append(covered)
    return sets


CELLS = [
    (kind, instrument, categories, listed, validated, emergency, threshold_met)
    for kind, instrument in product(AuthorityKind.values, Instrument.values)
    for categories in category_sets(instrument)
    for listed, validated, emergency, threshold_met in product((True, False), repeat=4)
]


LAW_ARGUMENTS = (
    "kind",
    "instrument",
    "categories",
    "listed",
    "validated",
    "emergency",
    "threshold_met",
)


def cell_id(cell) -> str:
    kind, instrument, categories, listed, validated, emergency, threshold_met = cell
    return "-".join(
        [
            kind,
            instrument,
            "+".join(categories) or "no-category",
            "listed" if listed else "unlisted",
            "validated" if validated else "unvalidated",
            "emergency" if emergency else "normal",
            "3y" if threshold_met else "below-3y",
        ]
    )


def test_the_matrix_crosses_every_kind_instrument_category_and_fact_once():
    """What the module docstring promises: every authority kind x every instrument x none, each
    and all of the instrument's categories x the 16 combinations of the four facts, no cell
    twice (pytest would run a duplicate id again under another name)."""
    assert len({cell_id(cell) for cell in CELLS}) == len(CELLS)
    by_pair = defaultdict(list)
    for cell in CELLS:
        by_pair[cell[:2]].append(cell)
    assert set(by_pair) == set(product(AuthorityKind.values, Instrument.values))
    every_combination_of_facts = set(product((True, False), repeat=4))
    for (_, instrument), cells in by_pair.items():
        category_sets = {cell[2] for cell in cells}
        covered = set(COVERS[instrument])
        assert () in category_sets
        assert {(category,) for category in covered} <= category_sets
        assert set().union(*category_sets) == covered
        if len(covered) > 1:
            assert tuple(COVERS[instrument]) in category_sets
        for categories in category_sets:
            facts = [cell[3:] for cell in cells if cell[2] == categories]
            assert sorted(facts) == sorted(every_combination_of_facts)


def test_every_rule_of_the_law_refuses_some_cells_and_not_others():
    """The expected answers differ from cell to cell: each rule refuses some cells and lets
    others through, and some cells pass every rule, so the matrix can fail both ways."""
    expected = [law(**dict(zip(LAW_ARGUMENTS, cell, strict=True))) for cell in CELLS]
    cited = Counter(rule for problems in expected for rules in problems.values() for rule in rules)
    assert set(cited) == {"registry", "kind", "Art. 4", "Art. 5(4)"}
    assert all(0 < count < len(CELLS) for count in cited.values())
    assert {} in expected


def test_instruments_cover_the_categories_the_law_says():
    assert {i: frozenset(rule_for(i).categories) for i in Instrument.values} == {
        i: frozenset(c) for i, c in COVERS.items()
    }


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_power_check_agrees_with_the_law(cell):
    kind, instrument, categories, listed, validated, emergency, threshold_met = cell
    authority = Authority(kind=kind, instruments=[instrument] if listed else [], name_en="X")
    problems = power_problems(
        authority=authority,
        instrument=instrument,
        categories=list(categories),
        validating_authority=VALIDATOR if validated else "",
        emergency=emergency,
        threshold_met=threshold_met,
    )
    found = {
        field: [rule_cited(m, instrument) for m in messages] for field, messages in problems.items()
    }
    assert found == law(
        kind=kind,
        instrument=instrument,
        categories=categories,
        listed=listed,
        validated=validated,
        emergency=emergency,
        threshold_met=threshold_met,
    )


# --- The messages ---------------------------------------------------------------------------------


def check(kind, instrument, categories, *, listed=True, validating="", emergency=False, t=True):
    authority = Authority(
        kind=kind, instruments=[instrument] if listed else [], name_en="Parquet de Paris"
    )
    return power_problems(
        authority=authority,
        instrument=instrument,
        categories=categories,
        validating_authority=validating,
        emergency=emergency,
        threshold_met=t,
    )


def test_registry_message_names_the_instrument_and_the_authority():
    problems = check(AuthorityKind.PROSECUTOR, Instrument.EPOC, [SUBSCRIBER], listed=False)
    assert problems == {
        "__all__": [
            "The registry does not list European Production Order (EPOC) among the "
            "instruments Parquet de Paris may issue."
        ]
    }


@pytest.mark.parametrize(
    ("kind", "instrument", "expected"),
    [
        (
            AuthorityKind.REGULATOR,
            Instrument.EPOC,
            "A regulator (e.g. digital services coordinator) may not issue European "
            "Production Order (EPOC) (e-Evidence Regulation (EU) 2023/1543, Art. 4, 5, 10).",
        ),
        (
            AuthorityKind.REGULATOR,
            Instrument.EPOC_PR,
            "(e-Evidence Regulation (EU) 2023/1543, Art. 4(3), 11)",
        ),
        (
            AuthorityKind.OTHER,
            Instrument.EMERGENCY_DISCLOSURE,
            "A other competent authority may not issue",
        ),
        (
            AuthorityKind.REGULATOR,
            Instrument.EMERGENCY_DISCLOSURE,
            "may not issue Emergency disclosure request",
        ),
    ],
)
def test_kind_message_names_the_legal_source(kind, instrument, expected):
    [message] = check(kind, instrument, [])["__all__"]
    assert expected in message


@pytest.mark.parametrize(
    ("kind", "instrument", "categories", "emergency", "expected"),
    [
        (
            AuthorityKind.POLICE,
            Instrument.EPOC,
            [SUBSCRIBER],
            False,
            "Subscriber data ordered by a police must be validated by a judge, court, "
            "investigating judge or public prosecutor (e-Evidence Regulation Art. 4). "
            "Name the validating authority.",
        ),
        (
            AuthorityKind.POLICE,
            Instrument.EPOC,
            [TRAFFIC],
            False,
            "Traffic data ordered by a police must be validated by a judge, court or "
            "investigating judge (e-Evidence Regulation Art. 4). Name the validating authority.",
        ),
        (
            AuthorityKind.PROSECUTOR,  # may order subscriber data itself: only content is named
            Instrument.EPOC,
            [SUBSCRIBER, CONTENT],
            False,
            "Content data ordered by a public prosecutor must be validated by a judge, court or "
            "investigating judge",
        ),
        (
            # Art. 4(5) lets subscriber data through in an emergency, not content
            AuthorityKind.POLICE,
            Instrument.EPOC,
            [SUBSCRIBER, CONTENT],
            True,
            "Content data ordered by a police must be validated by a judge, court or "
            "investigating judge (e-Evidence Regulation Art. 4). Name the validating authority. "
            "An emergency does not waive prior validation for these data (Art. 4(5)).",
        ),
        (
            AuthorityKind.POLICE,  # Art. 4(3): a prosecutor validates any preservation order
            Instrument.EPOC_PR,
            [CONTENT],
            False,
            "Content data ordered by a police must be validated by a judge, court, "
            "investigating judge or public prosecutor (e-Evidence Regulation Art. 4).",
        ),
    ],
)
def test_validation_message_names_the_data_the_validator_and_art_4(
    kind, instrument, categories, emergency, expected
):
    problems = check(kind, instrument, categories, emergency=emergency)
    assert set(problems) == {"validating_authority"}
    [message] = problems["validating_authority"]
    assert message.startswith(expected)


def test_a_blank_validating_authority_is_no_validating_authority():
    assert "validating_authority" in check(
        AuthorityKind.POLICE, Instrument.EPOC, [SUBSCRIBER], validating="  \t"
    )
    assert (
        check(AuthorityKind.POLICE, Instrument.EPOC, [SUBSCRIBER], validating="Procureur de Paris")
        == {}
    )


def test_emergency_lets_subscriber_data_wait_for_validation():
    assert (
        check(AuthorityKind.POLICE, Instrument.EPOC, [SUBSCRIBER, IDENTIFICATION], emergency=True)
        == {}
    )


def test_threshold_message_cites_art_5_4():
    problems = check(AuthorityKind.COURT, Instrument.EPOC, [SUBSCRIBER, TRAFFIC], t=False)
    assert problems == {
        "threshold_met": [
            "Traffic and content data may only be ordered for offences punishable by a maximum "
            "of at least 3 years, or listed offences (e-Evidence Regulation Art. 5(4)). Confirm "
            "the offence meets this threshold."
        ]
    }


def test_preservation_needs_no_threshold():
    assert check(AuthorityKind.COURT, Instrument.EPOC_PR, [TRAFFIC, CONTENT], t=False) == {}


@pytest.mark.parametrize(
    ("instrument", "category", "expected"),
    [
        (
            Instrument.EPOC,
            "content_removal",
            "Removal or disabling of content is not covered by European Production Order (EPOC).",
        ),
        (
            Instrument.TCO_REMOVAL,
            SUBSCRIBER,
            "Subscriber data is not covered by Removal order for terrorist content (TCO).",
        ),
        (
            Instrument.INQUIRY,
            "information",
            "Specific information about named recipients of the service is not covered by "
            "General inquiry.",
        ),
        (
            Instrument.DSA_ART10,
            CONTENT,
            "Content data is not covered by Order to provide information (DSA Art. 10).",
        ),
    ],
)
def test_category_the_instrument_does_not_cover_is_refused(instrument, category, expected):
    problems = check(AuthorityKind.COURT, instrument, [category])
    assert problems["data_categories"] == [expected]


# --- e-Evidence Art. 8: notification to the enforcing authority --------------------------------

ENFORCING = Authority(id="IE-DOJ", country="IE", enforcing=True, status="active")
NOT_ENFORCING = Authority(id="IE-GARDA", country="IE", enforcing=False, status="active")
OTHER_STATE = Authority(id="BE-ENF", country="BE", enforcing=True, status="active")
STATEMENT = "Offence committed in France; the person resides in France."


@pytest.mark.parametrize(
    ("instrument", "categories", "notified", "statement", "enforcing_authority", "expected"),
    [
        # Art. 8(1): traffic or content data are notified...
        (Instrument.EPOC, [TRAFFIC], False, "", None, {"enforcing_notified"}),
        (Instrument.EPOC, [CONTENT], False, "", None, {"enforcing_notified"}),
        (Instrument.EPOC, [SUBSCRIBER, CONTENT], False, "  ", None, {"enforcing_notified"}),
        (Instrument.EPOC, [TRAFFIC, CONTENT], True, "", ENFORCING, set()),
        # ... unless the Art. 8(2) statement; never for data requested only to identify.
        (Instrument.EPOC, [TRAFFIC, CONTENT], False, STATEMENT, None, set()),
        (Instrument.EPOC, [SUBSCRIBER, IDENTIFICATION], False, "", None, set()),
        # A notified order names an enforcing authority of the enforcing State.
        (Instrument.EPOC, [TRAFFIC], True, "", None, {"enforcing_authority"}),
        (Instrument.EPOC, [TRAFFIC], True, "", NOT_ENFORCING, {"enforcing_authority"}),
        (Instrument.EPOC, [TRAFFIC], True, "", OTHER_STATE, {"enforcing_authority"}),
        # Preservation orders are not notified (Art. 8(1) names production orders).
        (Instrument.EPOC_PR, [TRAFFIC, CONTENT], False, "", None, set()),
    ],
)
def test_notification_rule_of_art_8(
    instrument, categories, notified, statement, enforcing_authority, expected
):
    problems = notification_problems(
        instrument=instrument,
        categories=categories,
        notified=notified,
        statement=statement,
        enforcing_authority=enforcing_authority,
        enforcing_state="IE",
    )
    assert set(problems) == expected
