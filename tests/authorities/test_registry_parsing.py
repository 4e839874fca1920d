"""Parsing a registry file, with no database and no service: `parse_registry` reads the bytes
and either returns every entry or refuses the file listing every problem by entry and field.
The import itself (all or nothing, recorded changes) is tests/authorities/test_registry_import.py.
Runs with bare `pytest` and no environment (tests/settings.py)."""

import json
from datetime import date

import pytest

from authorities.registry import RegistryFileError, parse_registry
from tests.authorities.test_registry_import import DROP, entry


def raw(*entries: dict, **top) -> bytes:
    document = {"version": "2026-11-01", "authorities": list(entries), **top}
    return json.dumps(document, ensure_ascii=False).encode()


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(RegistryFileError) as refused:
        parse_registry(data)
    return refused.value.problems


def test_a_valid_file_gives_each_entry_with_its_fields_normalised():
    parsed = parse_registry(raw(entry("FR-PNAT"), entry("DE-BKA", kind="police")))

    assert parsed.version == "2026-11-01"
    assert [e.id for e in parsed.entries] == ["FR-PNAT", "DE-BKA"]
    first = parsed.entries[0]
    assert first.country == "FR"
    assert first.domains == ("pnat.justice.fr",)
    assert first.instruments == ("epoc", "epoc_pr", "inquiry")
    assert first.source_checked == date(2026, 11, 1)
    assert first.status == "active"
    assert first.authority_fields()["instruments"] == ["epoc", "epoc_pr", "inquiry"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe not utf-8", "file: not valid UTF-8 JSON"),
        (b"{not json", "file: not valid UTF-8 JSON"),
        (b"[]", "file: the top level must be an object"),
        (json.dumps({"version": "1"}).encode(), "file: 'authorities' must be a list"),
        (raw(entry(), extra=1), "file: unknown top-level keys ['extra']"),
        (raw(entry(), version=" "), "file: 'version' must be a non-empty string"),
    ],
)
def test_a_file_that_is_not_a_registry_document_is_refused(data, expected):
    assert any(expected in problem for problem in problems_of(data))


@pytest.mark.parametrize(
    ("overrides", "field", "detail"),
    [
        ({"country": "UK"}, "country", "'UK' is not an EU Member State"),
        ({"domains": ["іnterieur.gouv.fr"]}, "domains", "non-ASCII"),
        ({"kind": "sheriff"}, "kind", "unknown kind 'sheriff'"),
        ({"instruments": ["subpoena"]}, "instruments", "unknown instrument 'subpoena'"),
        ({"callback_phone": "0140000000"}, "callback_phone", "not an E.164 number"),
        ({"callback_phone": DROP}, "callback_phone", "missing"),
        ({"status": "suspended"}, "status_reason", "required when status is suspended"),
        ({"id": "DE-PNAT"}, "id", "must start with its country code FR-"),
    ],
)
def test_an_entry_with_a_problem_is_named_by_position_id_and_field(overrides, field, detail):
    bad = entry("FR-PNAT", **overrides)

    problems = problems_of(raw(entry("DE-BKA"), bad))

    assert len(problems) == 1
    assert problems[0].startswith(f"entry #2 ({bad['id']}): field '{field}':")
    assert detail in problems[0]


def test_every_problem_of_the_file_is_listed_at_once():
    problems = problems_of(
        raw(
            entry("FR-PNAT"),
            entry("FR-PNAT"),
            entry("DE-BKA", domains=["pnat.justice.fr"]),
            entry("FR-OFAC", kind="sheriff"),
        )
    )

    assert problems == [
        "entry #2 (FR-PNAT): field 'id': duplicate of entry #1",
        "entry #3 (DE-BKA): field 'domains': 'pnat.justice.fr' is already claimed by FR-PNAT",
        "entry #4 (FR-OFAC): field 'kind': unknown kind 'sheriff'; allowed: court, "
        "investigating_judge, prosecutor, police, regulator, tco_authority, other",
    ]
