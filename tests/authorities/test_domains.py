"""Which e-mail addresses belong to a registry authority: the rule behind sign-up and the live
re-check of every officer. Look-alike domains must never match."""

import pytest

from authorities.constants import AuthorityStatus
from authorities.domains import (
    DomainError,
    candidate_registry_domains,
    domain_matches,
    email_domain,
    normalise_domain,
)
from authorities.selectors import authority_for_email
from tests.factories import AuthorityFactory

CYRILLIC_I = "\u0456"  # і, looks like the Latin i
CONFUSABLE = f"{CYRILLIC_I}nterieur.gouv.fr"
CONFUSABLE_PUNYCODE = "xn--nterieur-shh.gouv.fr"


def test_the_punycode_fixture_is_the_encoding_of_the_confusable_domain():
    # Guards the tables below: the xn-- form really is what a browser or mail client would send.
    assert CONFUSABLE.encode("idna").decode() == CONFUSABLE_PUNYCODE


# --- Pure rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("interieur.gouv.fr", "interieur.gouv.fr"),
        ("INTERIEUR.Gouv.FR", "interieur.gouv.fr"),
        ("tj-paris.justice.fr", "tj-paris.justice.fr"),
        ("xn--polizei-mnchen-osb.de", "xn--polizei-mnchen-osb.de"),
        ("a" * 63 + ".fr", "a" * 63 + ".fr"),
    ],
)
def test_well_formed_domain_is_normalised_to_lower_case(value, expected):
    assert normalise_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        (" interieur.gouv.fr", "surrounding spaces"),
        ("interieur.gouv.fr\n", "surrounding spaces"),
        ("interieur.gouv.fr.", "ends with a dot"),
        (CONFUSABLE, "non-ASCII"),
        ("\uff49nterieur.gouv.fr", "non-ASCII"),  # fullwidth ｉ
        ("interieur\uff0egouv\uff0efr", "non-ASCII"),  # fullwidth dots
        ("polizei-münchen.de", "non-ASCII"),
        ("fr", "at least two labels"),
        ("x..fr", "invalid label ''"),
        ("-x.fr", "invalid label '-x'"),
        ("x-.fr", "invalid label 'x-'"),
        ("bad domain.fr", "invalid label 'bad domain'"),
        ("x_y.fr", "invalid label 'x_y'"),
        ("interieur\n.gouv.fr", "invalid label"),
        ("a" * 64 + ".fr", "invalid label"),
        ("192.168.0.1", "IP address"),
    ],
)
def test_malformed_domain_is_refused_with_the_reason(value, reason):
    with pytest.raises(DomainError, match=reason):
        normalise_domain(value)


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("marie@interieur.gouv.fr", "interieur.gouv.fr"),
        ("Marie.Durand@INTERIEUR.GOUV.FR", "interieur.gouv.fr"),
        ("marie@police.interieur.gouv.fr", "police.interieur.gouv.fr"),
    ],
)
def test_email_domain_is_the_normalised_part_after_the_at_sign(email, expected):
    assert email_domain(email) == expected


@pytest.mark.parametrize(
    "email",
    ["marie.interieur.gouv.fr", "marie@", "marie@interieur.gouv.fr.", f"marie@{CONFUSABLE}"],
)
def test_email_without_a_well_formed_domain_is_refused(email):
    with pytest.raises(DomainError):
        email_domain(email)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("justice.fr", ["justice.fr"]),
        ("tj-paris.justice.fr", ["tj-paris.justice.fr", "justice.fr"]),
        (
            "a.police.interieur.gouv.fr",
            [
                "a.police.interieur.gouv.fr",
                "police.interieur.gouv.fr",
                "interieur.gouv.fr",
                "gouv.fr",
            ],
        ),
    ],
)
def test_candidate_registry_domains_are_the_domain_and_its_parents_most_specific_first(
    domain, expected
):
    assert candidate_registry_domains(domain) == expected


@pytest.mark.parametrize(
    ("candidate", "matches"),
    [
        ("interieur.gouv.fr", True),
        ("police.interieur.gouv.fr", True),
        ("xinterieur.gouv.fr", False),
        ("interieur-gouv.fr", False),
        ("interieur.gouv.fr.example.com", False),
        ("gouv.fr", False),
    ],
)
def test_domain_matches_itself_and_subdomains_on_a_label_boundary(candidate, matches):
    assert domain_matches(candidate, "interieur.gouv.fr") is matches


# --- authority_for_email against the registry -------------------------------------------------


@pytest.fixture
def registry(db):
    return {
        "FR-OFAC": AuthorityFactory(id="FR-OFAC", domains=["interieur.gouv.fr"]),
        "FR-JUSTICE": AuthorityFactory(id="FR-JUSTICE", domains=["justice.fr"]),
        "FR-TJ-PARIS": AuthorityFactory(id="FR-TJ-PARIS", domains=["tj-paris.justice.fr"]),
        "DE-POLIZEI-MUC": AuthorityFactory(
            id="DE-POLIZEI-MUC", country="DE", domains=["xn--polizei-mnchen-osb.de"]
        ),
    }


@pytest.mark.parametrize(
    ("email", "authority_id"),
    [
        ("marie@interieur.gouv.fr", "FR-OFAC"),
        ("marie@police.interieur.gouv.fr", "FR-OFAC"),
        ("marie@a.b.police.interieur.gouv.fr", "FR-OFAC"),
        ("Marie.Durand@INTERIEUR.GOUV.FR", "FR-OFAC"),
        ("x@justice.fr", "FR-JUSTICE"),
        ("x@pnat.justice.fr", "FR-JUSTICE"),
        ("x@tj-paris.justice.fr", "FR-TJ-PARIS"),
        ("x@greffe.tj-paris.justice.fr", "FR-TJ-PARIS"),
        ("x@xn--polizei-mnchen-osb.de", "DE-POLIZEI-MUC"),
    ],
)
def test_official_address_belongs_to_the_most_specific_registry_domain(
    registry, email, authority_id
):
    assert authority_for_email(email) == registry[authority_id]


@pytest.mark.parametrize(
    "email",
    [
        "marie@interieur.gouv.fr.example.com",
        "marie@interieur-gouv.fr",
        "marie@xinterieur.gouv.fr",
        "marie@interieur.gouv.fr.",
        "marie@gouv.fr",
        f"marie@{CONFUSABLE}",
        f"marie@police.{CONFUSABLE}",
        f"marie@{CONFUSABLE_PUNYCODE}",
        "marie@\uff49nterieur.gouv.fr",  # fullwidth ｉ
        "marie@interieur\uff0egouv\uff0efr",  # fullwidth dots
        "marie@interi\u0435ur.gouv.fr",  # Cyrillic е
        "x@polizei-münchen.de",  # the Unicode form of a registry punycode domain
        "marie@justice.fr.evil.example",
        "marie",
        "marie@",
        "",
    ],
)
def test_look_alike_or_malformed_address_belongs_to_no_authority(registry, email):
    assert authority_for_email(email) is None


@pytest.mark.parametrize("status", [AuthorityStatus.SUSPENDED, AuthorityStatus.REVOKED])
def test_domain_of_an_authority_that_is_not_active_is_refused(db, status):
    authority = AuthorityFactory(id="AT-DSN", country="AT", domains=["dsn.gv.at"], status=status)
    assert authority_for_email("anna@dsn.gv.at") is None

    authority.status = AuthorityStatus.ACTIVE
    authority.save()
    assert authority_for_email("anna@dsn.gv.at") == authority


def test_suspended_nested_authority_does_not_fall_back_to_the_parent_domain(registry):
    tj_paris = registry["FR-TJ-PARIS"]
    tj_paris.status = AuthorityStatus.SUSPENDED
    tj_paris.save()

    assert authority_for_email("x@tj-paris.justice.fr") is None
    assert authority_for_email("x@greffe.tj-paris.justice.fr") is None
    assert authority_for_email("x@justice.fr") == registry["FR-JUSTICE"]
