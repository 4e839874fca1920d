"""Target identifiers: each line normalised to one canonical form, or refused with a message
that quotes what the officer typed. Pure functions; no database."""

import pytest
from django.core.exceptions import ValidationError

from authorities.constants import Instrument
from requests_app.identifiers import MAX_TARGETS, parse_identifier, parse_targets
from requests_app.instruments import rule_for
from requests_app.models import RequestTarget

ANY_KIND = frozenset(RequestTarget.Kind.values)
TCO_KINDS = rule_for(Instrument.TCO_REMOVAL).target_kinds
DSA_ART9_KINDS = rule_for(Instrument.DSA_ART9).target_kinds


@pytest.fixture(autouse=True)
def platform_domains(settings):
    settings.PORTAL_PLATFORM_DOMAINS = ["platform.example", "www.platform.example"]
    return settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Phone numbers: E.164, "+" and digits only.
        ("+33 6 12 34 56 78", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("+33612345678", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("  +33 6 12 34 56 78  ", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("0033612345678", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("0033 6 12 34 56 78", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("+33.6.12.34.56.78", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("(+33) 6-12-34-56-78", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("+33 (0)6 12 34 56 78", (RequestTarget.Kind.PHONE, "+33612345678")),
        ("+44 (0)20 7946 0000", (RequestTarget.Kind.PHONE, "+442079460000")),
        ("+1 (212) 555-0100", (RequestTarget.Kind.PHONE, "+12125550100")),
        (
            "+49\u00a030\u00a0123456",
            (RequestTarget.Kind.PHONE, "+4930123456"),
        ),  # no-break spaces, pasted
        # Usernames: lower case, one leading @.
        ("@Jane.Doe", (RequestTarget.Kind.USERNAME, "@jane.doe")),
        ("jane_doe", (RequestTarget.Kind.USERNAME, "@jane_doe")),
        ("JANE.DOE", (RequestTarget.Kind.USERNAME, "@jane.doe")),
        ("@abc", (RequestTarget.Kind.USERNAME, "@abc")),
        ("@" + "x" * 32, (RequestTarget.Kind.USERNAME, "@" + "x" * 32)),
        # Account ids: no leading zeros.
        ("id:00123", (RequestTarget.Kind.ACCOUNT_ID, "id:123")),
        ("ID:42", (RequestTarget.Kind.ACCOUNT_ID, "id:42")),
        ("id: 42", (RequestTarget.Kind.ACCOUNT_ID, "id:42")),
        # Links: https, lower-case host, no trailing slash, no fragment; the query is kept.
        ("https://platform.example/p/1/", (RequestTarget.Kind.URL, "https://platform.example/p/1")),
        (
            "http://WWW.platform.example/p/1#frag",
            (RequestTarget.Kind.URL, "https://www.platform.example/p/1"),
        ),
        ("platform.example/p/1", (RequestTarget.Kind.URL, "https://platform.example/p/1")),
        ("www.platform.example/p/1", (RequestTarget.Kind.URL, "https://www.platform.example/p/1")),
        ("HTTPS://PLATFORM.EXAMPLE/p/1", (RequestTarget.Kind.URL, "https://platform.example/p/1")),
        ("https://platform.example", (RequestTarget.Kind.URL, "https://platform.example/")),
        (
            "https://platform.example/p/1?img=2",
            (RequestTarget.Kind.URL, "https://platform.example/p/1?img=2"),
        ),
    ],
)
def test_identifier_is_normalised(raw, expected):
    assert parse_identifier(raw, ANY_KIND) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # A national number: E.164 needs the "+" and the country code, never a guess.
        ("0612345678", "is not a phone number in international E.164 format (e.g. +33612345678)"),
        ("06 12 34 56 78", "is not a phone number in international E.164 format"),
        ("1234567", "is not a phone number in international E.164 format"),
        ("+0123", "is not a phone number in international E.164 format"),
        ("+0612345678", "is not a phone number in international E.164 format"),
        ("+33 12", "is not a phone number in international E.164 format"),
        ("+1234567890123456", "is not a phone number in international E.164 format"),
        ("+33 6 12 34 56 78 ext 9", "is not a phone number in international E.164 format"),
        # Arabic-Indic digits are digits to Python's \d, but not an E.164 number.
        ("+33\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "E.164"),
        # Links elsewhere, or with credentials or a port.
        (
            "https://evil.example/p/1",
            "is not a link to the platform (platform.example, www.platform.example)",
        ),
        ("https://platform.example.evil.com/x", "is not a link to the platform"),
        ("https://evilplatform.example/x", "is not a link to the platform"),
        ("https://platform.example.", "is not a link to the platform"),
        ("https://user:pw@platform.example/", "is not a link to the platform"),
        ("https://user@platform.example/", "is not a link to the platform"),
        ("https://evil.example\\@platform.example/", "is not a link to the platform"),
        ("https://platform.example:8443/", "is not a link to the platform"),
        ("https://platform.example:abc/", "is not a link to the platform"),
        ("https://platform.example:99999/", "is not a link to the platform"),
        ("https://pl\u0430tform.example/p/1", "is not a link to the platform"),  # Cyrillic а
        ("ftp://platform.example/x", "is not a username"),
        # Usernames: 3 to 32 of a-z, 0-9, _ and .
        ("@a", "is not a username (@ then 3 to 32 letters, digits, _ or .)"),
        ("@ab", "is not a username"),
        ("@" + "x" * 33, "is not a username"),
        ("@x" * 40, "is not a username"),
        ("jane doe", "is not a username"),
        ("@j\u0430ne", "is not a username"),  # Cyrillic а
        ("@jane.d\u03bfe", "is not a username"),  # Greek ο
        ("@\uff4a\uff41\uff4e\uff45", "is not a username"),  # fullwidth ｊａｎｅ
        ("javascript:alert(1)", "is not a username"),
        # Account ids: digits only.
        ("id:abc", "an account id is id: followed by digits"),
        ("id:", "an account id is id: followed by digits"),
        ("id:-5", "an account id is id: followed by digits"),
        ("id:\u00b2", "an account id is id: followed by digits"),  # superscript two
        ("id:" + "1" * 21, "an account id is id: followed by digits"),
    ],
)
def test_bad_identifier_is_refused_quoting_the_input(raw, message):
    with pytest.raises(ValidationError) as excinfo:
        parse_identifier(raw, ANY_KIND)
    [text] = excinfo.value.messages
    assert f"“{raw}”" in text
    assert message in text


def test_the_generic_refusal_lists_every_accepted_form():
    with pytest.raises(ValidationError) as excinfo:
        parse_identifier("@a", ANY_KIND)
    text = excinfo.value.messages[0]
    for form in ("username", "international format (+33...)", "id:123", "link to the platform"):
        assert form in text


@pytest.mark.parametrize(
    ("raw", "allowed", "message"),
    [
        ("@jane", TCO_KINDS, "“@jane”: this instrument takes only: link to the platform."),
        ("+33612345678", TCO_KINDS, "this instrument takes only: link to the platform."),
        ("id:42", TCO_KINDS, "this instrument takes only: link to the platform."),
        (
            "+33612345678",
            DSA_ART9_KINDS,
            "this instrument takes only: account id, link to the platform, username.",
        ),
    ],
)
def test_identifier_of_a_kind_the_instrument_does_not_take_is_refused(raw, allowed, message):
    with pytest.raises(ValidationError) as excinfo:
        parse_identifier(raw, allowed)
    assert message in excinfo.value.messages[0]


@pytest.mark.parametrize(
    ("raw", "allowed", "expected"),
    [
        (
            "https://platform.example/p/1",
            TCO_KINDS,
            (RequestTarget.Kind.URL, "https://platform.example/p/1"),
        ),
        ("@jane", DSA_ART9_KINDS, (RequestTarget.Kind.USERNAME, "@jane")),
        ("id:7", DSA_ART9_KINDS, (RequestTarget.Kind.ACCOUNT_ID, "id:7")),
    ],
)
def test_identifier_of_an_allowed_kind_is_accepted(raw, allowed, expected):
    assert parse_identifier(raw, allowed) == expected


def test_platform_hosts_come_from_settings(platform_domains):
    platform_domains.PORTAL_PLATFORM_DOMAINS = ["platform.example", "M.Platform.Example"]
    assert parse_identifier("https://m.platform.example/p/1", ANY_KIND) == (
        RequestTarget.Kind.URL,
        "https://m.platform.example/p/1",
    )
    with pytest.raises(ValidationError):
        parse_identifier("https://www.platform.example/p/1", ANY_KIND)


# --- A whole text box -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [], id="empty"),
        pytest.param(None, [], id="None"),
        pytest.param("\n  \n\t\n", [], id="only blank lines"),
        pytest.param(
            "\n@jane\n\n   \n+33612345678\n",
            [
                (RequestTarget.Kind.USERNAME, "@jane"),
                (RequestTarget.Kind.PHONE, "+33612345678"),
            ],
            id="blank lines skipped",
        ),
        pytest.param(
            "@jane\r\n@john\r\n",
            [
                (RequestTarget.Kind.USERNAME, "@jane"),
                (RequestTarget.Kind.USERNAME, "@john"),
            ],
            id="Windows line ends",
        ),
        pytest.param(
            "@Jane\njane\n+33 6 12 34 56 78\n0033612345678\n@jane",
            [(RequestTarget.Kind.USERNAME, "@jane"), (RequestTarget.Kind.PHONE, "+33612345678")],
            id="duplicates collapsed after normalisation, first order kept",
        ),
        pytest.param(
            "https://platform.example/p/1/\nhttp://platform.example/p/1#top",
            [(RequestTarget.Kind.URL, "https://platform.example/p/1")],
            id="the same link written twice",
        ),
    ],
)
def test_parse_targets(text, expected):
    assert parse_targets(text, ANY_KIND) == expected


def test_every_bad_line_is_listed_in_one_error():
    text = "@a\n@jane\n+0123\nhttps://evil.example/x\n\nid:abc"
    with pytest.raises(ValidationError) as excinfo:
        parse_targets(text, ANY_KIND)
    messages = excinfo.value.messages
    assert len(messages) == 4
    for raw, message in zip(
        ["@a", "+0123", "https://evil.example/x", "id:abc"], messages, strict=True
    ):
        assert f"“{raw}”" in message


def test_lines_of_a_kind_the_instrument_does_not_take_are_listed():
    text = "https://platform.example/p/1\n@jane\n+33612345678"
    with pytest.raises(ValidationError) as excinfo:
        parse_targets(text, TCO_KINDS)
    assert excinfo.value.messages == [
        "“@jane”: this instrument takes only: link to the platform.",
        "“+33612345678”: this instrument takes only: link to the platform.",
    ]


@pytest.mark.parametrize(
    ("lines", "accepted"),
    [
        pytest.param([f"@user{n:03d}" for n in range(MAX_TARGETS)], True, id="100 accepted"),
        pytest.param([f"@user{n:03d}" for n in range(MAX_TARGETS + 1)], False, id="101 refused"),
        pytest.param(["@jane"] * 150, True, id="150 copies of one are one target"),
    ],
)
def test_at_most_100_identifiers(lines, accepted):
    text = "\n".join(lines)
    if accepted:
        assert len(parse_targets(text, ANY_KIND)) == len(set(lines))
    else:
        with pytest.raises(ValidationError) as excinfo:
            parse_targets(text, ANY_KIND)
        assert excinfo.value.messages == ["At most 100 identifiers per request; split it."]
