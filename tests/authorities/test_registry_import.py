"""`manage.py import_registry FILE [--full]`: a registry file is checked in full, then loaded all or
nothing, and every change is recorded (who, when, which file, old -> new)."""

import getpass
import hashlib
import json
import re
from html import unescape
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from authorities.constants import AuthorityStatus, Instrument
from authorities.models import Authority, AuthorityDomain, RegistryChange, RegistryImport, User
from authorities.registry import RegistryFileError
from authorities.registry_import import registry_import
from authorities.selectors import officer_block_reason
from tests.conftest import passkey_login
from tests.factories import AuthorityFactory, OfficerFactory
from tests.processes import ROOT

DROP = object()  # an override that removes the key from the entry


def entry(registry_id: str = "FR-PNAT", **overrides) -> dict:
    """A valid registry entry (format: docs/demo-registry.json); overrides replace or DROP keys."""
    country = registry_id[:2]
    slug = registry_id[3:].lower()
    values = {
        "id": registry_id,
        "name": f"Autorité {registry_id}",
        "name_en": f"Authority {registry_id}",
        "country": country,
        "kind": "prosecutor",
        "instruments": ["epoc", "epoc_pr", "inquiry"],
        "domains": [f"{slug}.justice.{country.lower()}"],
        "callback_phone": "+33100000101",
        "source": {
            "list": "EJN Judicial Atlas",
            "reference": "https://www.ejn-crimjust.europa.eu/ejn/AtlasChooseCountry/EN",
            "checked": "2026-11-01",
        },
        "status": "active",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not DROP}


def registry_file(tmp_path: Path, *entries: dict, name: str = "registry.json") -> Path:
    path = tmp_path / name
    document = {"version": "2026-11-01", "authorities": list(entries)}
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def import_registry(path: Path, *args: str) -> str:
    """Run the command; return the summary line (the last line of its output)."""
    out = StringIO()
    call_command("import_registry", str(path), *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def authority_rows() -> list[dict]:
    return list(Authority.objects.order_by("pk").values())


# --- A valid file -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_valid_file_adds_authorities_with_their_domains_and_records_the_import(tmp_path):
    path = registry_file(
        tmp_path,
        entry("FR-PNAT", domains=["pnat.justice.fr", "PNAT.Parquet.fr"]),
        entry("DE-BKA", domains=["bka.bund.de"], callback_phone="+49611550"),
    )

    summary = import_registry(path, "--by", "ops@platform.example")

    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert summary == (
        f"Imported registry.json (sha256 {sha256[:12]}): "
        "2 added, 0 changed, 0 unchanged, 0 suspended."
    )
    pnat = Authority.objects.get(pk="FR-PNAT")
    assert pnat.name_en == "Authority FR-PNAT"
    assert pnat.instruments == ["epoc", "epoc_pr", "inquiry"]
    assert pnat.status == AuthorityStatus.ACTIVE
    assert Authority.objects.get(pk="DE-BKA").callback_phone == "+49611550"
    assert dict(AuthorityDomain.objects.values_list("domain", "authority_id")) == {
        "pnat.justice.fr": "FR-PNAT",
        "pnat.parquet.fr": "FR-PNAT",  # stored in the canonical lower-case form
        "bka.bund.de": "DE-BKA",
    }
    record = RegistryImport.objects.get()
    assert record.imported_by == "ops@platform.example"
    assert record.file_name == "registry.json"
    assert record.sha256 == sha256
    assert record.version == "2026-11-01"
    assert record.full is False
    assert (record.added, record.changed, record.unchanged, record.suspended) == (2, 0, 0, 0)
    changes = {c.authority_id: c for c in RegistryChange.objects.all()}
    assert set(changes) == {"FR-PNAT", "DE-BKA"}
    assert {c.origin for c in changes.values()} == {RegistryChange.Origin.IMPORT}
    assert {c.registry_import for c in changes.values()} == {record}
    assert changes["DE-BKA"].changed_by == "ops@platform.example"
    assert changes["DE-BKA"].changes["created"] is True
    assert changes["DE-BKA"].changes["callback_phone"] == [None, "+49611550"]


@pytest.mark.django_db
def test_import_is_recorded_as_the_operating_system_user_when_by_is_not_given(tmp_path):
    import_registry(registry_file(tmp_path, entry("FR-PNAT")))

    assert RegistryImport.objects.get().imported_by == getpass.getuser()
    assert RegistryChange.objects.get().changed_by == getpass.getuser()


@pytest.mark.django_db
def test_importing_the_same_file_twice_changes_nothing_the_second_time(tmp_path):
    path = registry_file(tmp_path, entry("FR-PNAT"), entry("DE-BKA"))
    import_registry(path)
    authorities_after_first = authority_rows()
    domains_after_first = sorted(AuthorityDomain.objects.values_list("domain", "authority_id"))
    changes_after_first = RegistryChange.objects.count()

    summary = import_registry(path)

    assert summary.endswith("0 added, 0 changed, 2 unchanged, 0 suspended.")
    assert authority_rows() == authorities_after_first  # updated_at included: no row was saved
    assert sorted(AuthorityDomain.objects.values_list("domain", "authority_id")) == (
        domains_after_first
    )
    assert RegistryChange.objects.count() == changes_after_first == 2
    second = RegistryImport.objects.order_by("pk").last()
    assert (second.added, second.changed, second.unchanged, second.suspended) == (0, 0, 2, 0)


@pytest.mark.django_db
def test_changed_field_is_updated_and_recorded_with_old_and_new_value(tmp_path):
    import_registry(registry_file(tmp_path, entry("FR-PNAT"), entry("DE-BKA")))
    path = registry_file(
        tmp_path, entry("FR-PNAT", callback_phone="+33140000000"), entry("DE-BKA"), name="v2.json"
    )

    summary = import_registry(path, "--by", "ops@platform.example")

    assert summary.endswith("0 added, 1 changed, 1 unchanged, 0 suspended.")
    assert Authority.objects.get(pk="FR-PNAT").callback_phone == "+33140000000"
    change = RegistryChange.objects.filter(authority_id="FR-PNAT").order_by("pk").last()
    assert change.changes == {"callback_phone": ["+33100000101", "+33140000000"]}
    assert change.changed_by == "ops@platform.example"
    assert change.registry_import.file_name == "v2.json"
    assert not RegistryChange.objects.filter(
        authority_id="DE-BKA", registry_import=change.registry_import
    ).exists()


@pytest.mark.django_db
def test_domain_can_move_between_two_authorities_of_the_same_file(tmp_path):
    import_registry(
        registry_file(
            tmp_path,
            entry("FR-PNAT", domains=["pnat.justice.fr", "cyber.justice.fr"]),
            entry("FR-OFAC", domains=["interieur.gouv.fr"]),
        )
    )
    moved = registry_file(
        tmp_path,
        entry("FR-PNAT", domains=["pnat.justice.fr"]),
        entry("FR-OFAC", domains=["interieur.gouv.fr", "cyber.justice.fr"]),
        name="v2.json",
    )

    summary = import_registry(moved)

    assert summary.endswith("0 added, 2 changed, 0 unchanged, 0 suspended.")
    assert AuthorityDomain.objects.get(domain="cyber.justice.fr").authority_id == "FR-OFAC"
    change = RegistryChange.objects.filter(authority_id="FR-OFAC").order_by("pk").last()
    assert change.changes == {
        "domains": [["interieur.gouv.fr"], ["cyber.justice.fr", "interieur.gouv.fr"]]
    }


# --- Refused files: every problem named, nothing imported --------------------------------------


def assert_refused_and_nothing_imported(path: Path, *expected_fragments: str) -> str:
    authorities_before = authority_rows()
    domains_before = sorted(AuthorityDomain.objects.values_list("domain", "authority_id"))
    changes_before = RegistryChange.objects.count()
    imports_before = RegistryImport.objects.count()

    with pytest.raises(CommandError) as refused:
        import_registry(path)

    message = str(refused.value)
    assert "nothing was imported" in message
    for fragment in expected_fragments:
        assert fragment in message
    assert authority_rows() == authorities_before
    assert sorted(AuthorityDomain.objects.values_list("domain", "authority_id")) == domains_before
    assert RegistryChange.objects.count() == changes_before
    assert RegistryImport.objects.count() == imports_before
    return message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "detail"),
    [
        ({"country": "CH"}, "country", "'CH' is not an EU Member State"),
        ({"country": "UK"}, "country", "'UK' is not an EU Member State"),
        ({"country": "EL"}, "country", "Greece is GR"),
        ({"country": "fr"}, "country", "'fr' is not an EU Member State"),
        ({"domains": ["bad domain"]}, "domains", "malformed domain 'bad domain'"),
        ({"domains": ["-x.fr"]}, "domains", "malformed domain '-x.fr'"),
        ({"domains": ["x..fr"]}, "domains", "malformed domain 'x..fr'"),
        ({"domains": ["interieur.gouv.fr."]}, "domains", "ends with a dot"),
        ({"domains": ["іnterieur.gouv.fr"]}, "domains", "non-ASCII"),
        ({"domains": ["interieur\n.gouv.fr"]}, "domains", "malformed domain"),
        ({"domains": ["localhost"]}, "domains", "at least two labels"),
        ({"domains": []}, "domains", "non-empty list"),
        ({"domains": ["x.fr", "X.fr"]}, "domains", "'x.fr' is listed twice"),
        ({"kind": "sheriff"}, "kind", "unknown kind 'sheriff'"),
        ({"instruments": ["epoc", "subpoena"]}, "instruments", "unknown instrument 'subpoena'"),
        ({"instruments": "epoc"}, "instruments", "must be a list"),
        ({"callback_phone": "0140000000"}, "callback_phone", "not an E.164 number"),
        ({"callback_phone": "+33 1 40"}, "callback_phone", "not an E.164 number"),
        ({"callback_phone": "+0123456789"}, "callback_phone", "not an E.164 number"),
        ({"callback_phone": "+331"}, "callback_phone", "not an E.164 number"),
        ({"callback_phone": "+33\u0661400000000"}, "callback_phone", "not an E.164 number"),
        ({"website": "https://pnat.fr"}, "website", "unknown key"),
        ({"callback_phone": DROP}, "callback_phone", "missing"),
        ({"source": DROP}, "source", "missing"),
        ({"status": "dormant"}, "status", "unknown status 'dormant'"),
        ({"status": "suspended"}, "status_reason", "required when status is suspended"),
        ({"status": "revoked", "status_reason": ""}, "status_reason", "required"),
        ({"id": "FR_PNAT"}, "id", "must look like 'FR-PNAT'"),
        ({"id": "DE-PNAT"}, "id", "must start with its country code FR-"),
        ({"name_en": "  "}, "name_en", "must be a non-empty string"),
    ],
)
def test_entry_with_a_problem_is_refused_naming_entry_and_field_and_nothing_is_imported(
    tmp_path, overrides, field, detail
):
    AuthorityFactory(id="FR-OFAC", domains=["interieur.gouv.fr"])
    bad = entry("FR-PNAT", **overrides)
    path = registry_file(tmp_path, entry("DE-BKA"), bad)

    assert_refused_and_nothing_imported(path, f"entry #2 ({bad['id']}): field '{field}':", detail)
    assert not Authority.objects.filter(pk="DE-BKA").exists()  # the good entry was not loaded


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("checked", "detail"),
    [
        ("2026-13-01", "'2026-13-01' is not a YYYY-MM-DD date"),
        ("2026-02-30", "'2026-02-30' is not a YYYY-MM-DD date"),
        ("01/11/2026", "'01/11/2026' is not a YYYY-MM-DD date"),
        ("", "'' is not a YYYY-MM-DD date"),
    ],
)
def test_bad_source_checked_date_is_refused(tmp_path, checked, detail):
    bad = entry("FR-PNAT")
    bad["source"]["checked"] = checked

    assert_refused_and_nothing_imported(
        registry_file(tmp_path, bad), "entry #1 (FR-PNAT): field 'source.checked':", detail
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "field", "detail"),
    [
        ("EJN Judicial Atlas", "source", "must be an object"),
        ({"list": "EJN", "reference": "https://ejn.example"}, "source.checked", "missing"),
        (
            {"list": "", "reference": "https://ejn.example", "checked": "2026-11-01"},
            "source.list",
            "must be a non-empty string",
        ),
        (
            {"list": "EJN", "reference": "x", "checked": "2026-11-01", "url": "x"},
            "source.url",
            "unknown key",
        ),
    ],
)
def test_bad_source_is_refused(tmp_path, source, field, detail):
    path = registry_file(tmp_path, entry("FR-PNAT", source=source))

    assert_refused_and_nothing_imported(path, f"entry #1 (FR-PNAT): field '{field}':", detail)


@pytest.mark.django_db
def test_every_problem_of_the_file_is_listed_in_one_pass(tmp_path):
    path = registry_file(
        tmp_path,
        entry("FR-PNAT", kind="sheriff"),
        entry("DE-BKA", callback_phone="0611550"),
    )

    message = assert_refused_and_nothing_imported(
        path, "entry #1 (FR-PNAT): field 'kind':", "entry #2 (DE-BKA): field 'callback_phone':"
    )
    assert "2 problem(s)" in message


@pytest.mark.django_db
def test_domain_claimed_by_two_authorities_of_the_file_is_refused(tmp_path):
    path = registry_file(
        tmp_path,
        entry("FR-PNAT", domains=["pnat.justice.fr", "justice.fr"]),
        entry("FR-TJ-PARIS", domains=["JUSTICE.fr"]),
    )

    assert_refused_and_nothing_imported(
        path,
        "entry #2 (FR-TJ-PARIS): field 'domains': 'justice.fr' is already claimed by FR-PNAT",
    )


@pytest.mark.django_db
def test_domain_owned_in_the_registry_by_an_authority_not_in_the_file_is_refused(tmp_path):
    AuthorityFactory(id="FR-OFAC", domains=["interieur.gouv.fr"])
    path = registry_file(
        tmp_path, entry("FR-PNAT"), entry("FR-POLICE", domains=["Interieur.Gouv.fr"])
    )

    assert_refused_and_nothing_imported(
        path,
        "entry (FR-POLICE): field 'domains': 'interieur.gouv.fr' is already claimed by FR-OFAC",
    )
    assert AuthorityDomain.objects.get(domain="interieur.gouv.fr").authority_id == "FR-OFAC"


@pytest.mark.django_db
def test_duplicate_id_is_refused(tmp_path):
    path = registry_file(
        tmp_path,
        entry("FR-PNAT", domains=["pnat.justice.fr"]),
        entry("FR-PNAT", domains=["parquet.justice.fr"]),
    )

    assert_refused_and_nothing_imported(
        path, "entry #2 (FR-PNAT): field 'id': duplicate of entry #1"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"version": "1", "authorities": [', "not valid UTF-8 JSON"),
        (b"\xff\xfe not utf-8", "not valid UTF-8 JSON"),
        (b"[]", "the top level must be an object"),
        (b'{"version": "1", "authorities": {}}', "'authorities' must be a list"),
        (b'{"version": "", "authorities": []}', "'version' must be a non-empty string"),
    ],
)
def test_file_that_is_not_a_registry_document_is_refused(tmp_path, content, detail):
    path = tmp_path / "registry.json"
    path.write_bytes(content)

    assert_refused_and_nothing_imported(path, "registry.json: 1 problem(s)", detail)


@pytest.mark.django_db
def test_file_that_cannot_be_read_is_refused(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        import_registry(tmp_path / "missing.json")
    assert not RegistryImport.objects.exists()


@pytest.mark.django_db
def test_one_bad_entry_leaves_existing_authorities_untouched(tmp_path):
    import_registry(registry_file(tmp_path, entry("FR-PNAT"), entry("DE-BKA")))
    path = registry_file(
        tmp_path,
        entry("FR-PNAT", callback_phone="+33140000000", domains=["new.justice.fr"]),
        entry("DE-BKA", country="CH"),
        name="v2.json",
    )

    assert_refused_and_nothing_imported(path, "entry #2 (DE-BKA): field 'country':")
    assert Authority.objects.get(pk="FR-PNAT").callback_phone == "+33100000101"
    assert list(
        AuthorityDomain.objects.filter(authority_id="FR-PNAT").values_list("domain", flat=True)
    ) == ["pnat.justice.fr"]


def test_service_raises_registry_file_error_listing_the_problems(db):
    raw = json.dumps({"version": "1", "authorities": [entry("FR-PNAT", country="CH")]}).encode()

    with pytest.raises(RegistryFileError) as refused:
        registry_import(raw=raw, file_name="registry.json", imported_by="ops@platform.example")

    assert refused.value.problems == [
        "entry #1 (FR-PNAT): field 'country': 'CH' is not an EU Member State "
        "(ISO 3166-1 alpha-2; Greece is GR)"
    ]
    assert not Authority.objects.exists()


# --- Suspension ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_full_import_suspends_authorities_missing_from_the_file_and_keeps_their_officers(
    tmp_path,
):
    gone = AuthorityFactory(id="FR-GONE", domains=["gone.justice.fr"])
    officer = OfficerFactory(authority=gone, email="anne@gone.justice.fr")
    path = registry_file(tmp_path, entry("FR-PNAT"), name="registry-2026-11.json")

    summary = import_registry(path, "--full", "--by", "ops@platform.example")

    assert summary.endswith("1 added, 0 changed, 0 unchanged, 1 suspended.")
    gone.refresh_from_db()
    assert gone.status == AuthorityStatus.SUSPENDED
    assert "registry-2026-11.json" in gone.status_reason
    officer = User.objects.get(pk=officer.pk)
    assert officer.authority_id == "FR-GONE"
    assert "suspended" in officer_block_reason(officer)  # kept, but blocked from the portal
    assert AuthorityDomain.objects.get(domain="gone.justice.fr").authority_id == "FR-GONE"
    change = RegistryChange.objects.get(authority=gone)
    assert change.changes == {"status": ["active", "suspended"]}
    assert change.changed_by == "ops@platform.example"
    record = RegistryImport.objects.get()
    assert record.full is True
    assert record.suspended == 1


@pytest.mark.django_db
def test_import_without_full_leaves_authorities_missing_from_the_file_active(tmp_path):
    other = AuthorityFactory(id="FR-OTHER", domains=["other.justice.fr"])

    summary = import_registry(registry_file(tmp_path, entry("FR-PNAT")))

    assert summary.endswith("1 added, 0 changed, 0 unchanged, 0 suspended.")
    other.refresh_from_db()
    assert other.status == AuthorityStatus.ACTIVE
    assert not RegistryChange.objects.filter(authority=other).exists()


@pytest.mark.django_db
def test_status_changed_to_suspended_in_the_file_counts_as_suspended(tmp_path):
    import_registry(registry_file(tmp_path, entry("FR-PNAT"), entry("DE-BKA")))
    path = registry_file(
        tmp_path,
        entry("FR-PNAT", status="suspended", status_reason="Notification withdrawn."),
        entry("DE-BKA"),
        name="v2.json",
    )

    summary = import_registry(path)

    assert summary.endswith("0 added, 0 changed, 1 unchanged, 1 suspended.")
    pnat = Authority.objects.get(pk="FR-PNAT")
    assert pnat.status == AuthorityStatus.SUSPENDED
    assert pnat.status_reason == "Notification withdrawn."
    change = RegistryChange.objects.filter(authority=pnat).order_by("pk").last()
    assert change.changes["status"] == ["active", "suspended"]
    assert change.changes["status_reason"] == ["", "Notification withdrawn."]


# --- Staff edits in the admin -------------------------------------------------------------------


def admin_form_data(authority: Authority, **changed: str) -> dict:
    """The admin change form of an authority as a browser posts it, with its current values (one
    domain, no recorded changes yet) overridden by `changed`."""
    domain = authority.domains.get()
    data = {
        "id": authority.pk,
        "name": authority.name,
        "name_en": authority.name_en,
        "country": authority.country,
        "kind": authority.kind,
        "instruments": list(authority.instruments),  # one checkbox each
        "callback_phone": authority.callback_phone,
        "source_list": authority.source_list,
        "source_reference": authority.source_reference,
        "source_checked": authority.source_checked.isoformat(),
        "status": authority.status,
        "status_reason": authority.status_reason,
        "domains-TOTAL_FORMS": "1",
        "domains-INITIAL_FORMS": "1",
        "domains-MIN_NUM_FORMS": "0",
        "domains-MAX_NUM_FORMS": "1000",
        "domains-0-id": str(domain.pk),
        "domains-0-authority": authority.pk,
        "domains-0-domain": domain.domain,
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
        "changes-MIN_NUM_FORMS": "0",
        "changes-MAX_NUM_FORMS": "0",
        "_save": "Save",
    }
    data.update(changed)
    return data


def admin_change_url(authority: Authority) -> str:
    return f"/admin/authorities/authority/{authority.pk}/change/"


def test_staff_edit_in_the_admin_records_who_changed_what(client, staff):
    authority = AuthorityFactory(
        id="FR-OFAC", domains=["interieur.gouv.fr"], callback_phone="+33100000000"
    )
    passkey_login(client, staff)  # the admin needs a passkey session
    assert client.get(admin_change_url(authority)).status_code == 200

    response = client.post(
        admin_change_url(authority),
        admin_form_data(
            authority,
            callback_phone="+33140000000",
            **{
                "domains-TOTAL_FORMS": "2",
                "domains-1-id": "",
                "domains-1-authority": authority.pk,
                "domains-1-domain": "police.interieur.gouv.fr",
            },
        ),
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    authority.refresh_from_db()
    assert authority.callback_phone == "+33140000000"
    change = RegistryChange.objects.get(authority=authority)
    assert change.origin == RegistryChange.Origin.ADMIN
    assert change.changed_by == "admin@platform.example"
    assert change.registry_import is None
    assert change.changes == {
        "callback_phone": ["+33100000000", "+33140000000"],
        "domains": [["interieur.gouv.fr"], ["interieur.gouv.fr", "police.interieur.gouv.fr"]],
    }


def test_staff_saving_the_admin_form_unchanged_records_no_change(client, staff):
    authority = AuthorityFactory(id="FR-OFAC", domains=["interieur.gouv.fr"])
    passkey_login(client, staff)  # the admin needs a passkey session

    response = client.post(admin_change_url(authority), admin_form_data(authority))

    assert response.status_code == 302, response.context and response.context["errors"]
    assert not RegistryChange.objects.filter(authority=authority).exists()


@pytest.mark.parametrize(
    "instruments",
    [
        [],  # every authority issues something: an entry without instruments is refused
        ["no-such"],
        ["epoc", "no-such"],
        ['["epoc"]'],  # the JSON the field used to take
        ["epoc\x00"],
    ],
)
def test_staff_admin_refuses_instruments_that_are_not_known_codes(client, staff, instruments):
    """A hand-made post (the page offers only checkboxes) must not store an unknown code: it
    would break every power check."""
    authority = AuthorityFactory(id="FR-OFAC", domains=["interieur.gouv.fr"], instruments=["epoc"])
    passkey_login(client, staff)  # the admin needs a passkey session

    response = client.post(
        admin_change_url(authority), admin_form_data(authority, instruments=instruments)
    )

    assert response.status_code == 200
    assert "instruments" in response.context["adminform"].form.errors
    authority.refresh_from_db()
    assert authority.instruments == ["epoc"]
    assert not RegistryChange.objects.filter(authority=authority).exists()


def test_staff_choose_an_authoritys_instruments_with_checkboxes(client, staff):
    authority = AuthorityFactory(
        id="FR-OFAC", domains=["interieur.gouv.fr"], instruments=["epoc", "dsa_art9"]
    )
    passkey_login(client, staff)  # the admin needs a passkey session

    page = client.get(admin_change_url(authority)).content.decode()

    checkboxes = re.findall(r'<input type="checkbox" name="instruments" value="(\w+)"[^>]*>', page)
    assert checkboxes == list(Instrument.values)
    checked = re.findall(
        r'<input type="checkbox" name="instruments" value="(\w+)"[^>]*checked', page
    )
    assert checked == ["epoc", "dsa_art9"]
    assert "European Production Order (EPOC)" in page
    assert not re.search(r'<textarea[^>]*name="instruments"', page)


def test_instruments_ticked_in_the_admin_are_stored_as_the_registry_list_of_codes(client, staff):
    authority = AuthorityFactory(
        id="FR-OFAC", domains=["interieur.gouv.fr"], instruments=["epoc", "dsa_art9"]
    )
    passkey_login(client, staff)  # the admin needs a passkey session

    response = client.post(
        admin_change_url(authority),
        admin_form_data(authority, instruments=["tco_removal", "epoc", "epoc"]),
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    authority.refresh_from_db()
    assert authority.instruments == ["epoc", "tco_removal"]  # the registry's order, once each
    assert authority.may_issue("tco_removal") and not authority.may_issue("dsa_art9")
    change = RegistryChange.objects.get(authority=authority)
    assert change.changes == {
        "instruments": [["dsa_art9", "epoc"], ["epoc", "tco_removal"]],
    }


def test_registry_change_history_says_what_changed_in_words(client, staff):
    authority = AuthorityFactory(
        id="FR-OFAC",
        domains=["interieur.gouv.fr"],
        instruments=["epoc", "dsa_art9"],
        callback_phone="+33100000000",
    )
    passkey_login(client, staff)  # the admin needs a passkey session
    client.post(
        admin_change_url(authority),
        admin_form_data(
            authority,
            instruments=["epoc", "tco_removal"],
            callback_phone="+33140000000",
            status="suspended",
            status_reason="Notification withdrawn.",
            **{
                "domains-TOTAL_FORMS": "2",
                "domains-1-id": "",
                "domains-1-authority": authority.pk,
                "domains-1-domain": "police.interieur.gouv.fr",
            },
        ),
    )
    words = [
        "Instruments: added Removal order for terrorist content (TCO); removed Order to act "
        "against illegal content (DSA Art. 9)",
        "Call-back phone (E.164): +33100000000 → +33140000000",
        "Status: Active → Suspended",
        "Status reason: (empty) → Notification withdrawn.",
        "Official e-mail domains: added police.interieur.gouv.fr",
    ]

    change = RegistryChange.objects.get(authority=authority)
    assert change.in_words() == words
    for url in (
        admin_change_url(authority),  # the authority's page: its recorded changes
        "/admin/authorities/registrychange/",  # the registry change log
        f"/admin/authorities/registrychange/{change.pk}/change/",
        f"/admin/authorities/authority/{authority.pk}/history/",  # Django's history page
    ):
        page = unescape(client.get(url).content.decode())
        for line in words:
            assert line in page, (url, line)
        assert '[["dsa_art9"' not in page, url  # not the recorded JSON


def test_an_authority_added_by_staff_reads_as_added_to_the_registry(client, staff):
    passkey_login(client, staff)  # the admin needs a passkey session
    data = {
        "id": "FR-NEW",
        "name": "Parquet de test",
        "name_en": "Test prosecution office",
        "country": "FR",
        "kind": "prosecutor",
        "instruments": ["epoc", "inquiry"],
        "callback_phone": "+33100000001",
        "source_list": "Test list",
        "source_reference": "https://example.eu/list",
        "source_checked": "2026-11-01",
        "status": "active",
        "status_reason": "",
        "domains-TOTAL_FORMS": "1",
        "domains-INITIAL_FORMS": "0",
        "domains-0-domain": "new.justice.fr",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
        "_save": "Save",
    }

    response = client.post("/admin/authorities/authority/add/", data)

    assert response.status_code == 302, response.context and response.context["errors"]
    change = RegistryChange.objects.get(authority_id="FR-NEW")
    assert change.origin == RegistryChange.Origin.ADMIN
    words = change.in_words()
    assert words[0] == "Added to the registry"
    assert "Instruments: European Production Order (EPOC), General inquiry" in words
    assert "Official e-mail domains: new.justice.fr" in words


@pytest.mark.django_db
def test_an_imported_authority_reads_as_added_with_its_values(tmp_path):
    import_registry(registry_file(tmp_path, entry("FR-PNAT", instruments=["epoc", "inquiry"])))

    words = RegistryChange.objects.get(authority_id="FR-PNAT").in_words()

    assert words[0] == "Added to the registry"
    assert "Instruments: European Production Order (EPOC), General inquiry" in words
    assert "Member State: France" in words
    assert "Kind: Public prosecutor" in words


# --- The shipped demo registry ------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_registry_imports_cleanly_with_authorities_of_seven_member_states():
    path = ROOT / "docs" / "demo-registry.json"
    count = len(json.loads(path.read_bytes())["authorities"])

    summary = import_registry(path)

    assert summary.endswith(f"{count} added, 0 changed, 0 unchanged, 0 suspended.")
    assert Authority.objects.count() == count
    for country in ["FR", "DE", "NL", "IT", "ES", "BE", "IE"]:
        active = Authority.objects.filter(country=country, status=AuthorityStatus.ACTIVE)
        assert AuthorityDomain.objects.filter(authority__in=active).exists(), country


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "N" * 301}, "name"),
        ({"status_reason": "R" * 501, "status": "suspended"}, "status_reason"),
        ({"source": {"list": "L" * 201, "reference": "r", "checked": "2026-11-01"}}, "source.list"),
        ({"source": {"list": "L", "reference": "r", "checked": "20261101"}}, "source.checked"),
        ({"source": {"list": "L", "reference": "r", "checked": 20261101}}, "source.checked"),
    ],
)
def test_values_too_long_or_in_another_date_format_are_refused_by_field(tmp_path, overrides, field):
    path = registry_file(tmp_path, entry("FR-PNAT", **overrides))
    assert_refused_and_nothing_imported(path, "FR-PNAT", f"field '{field}'")


# --- The enforcing authority (e-Evidence Art. 8) -------------------------------------------------


@pytest.mark.django_db
def test_enforcing_key_is_optional_and_marks_the_authority(tmp_path):
    path = registry_file(
        tmp_path,
        entry("IE-DOJ", enforcing=True, domains=["justice.ie"]),
        entry("FR-PNAT"),  # a file written before the key existed stays valid
    )

    assert import_registry(path).endswith("2 added, 0 changed, 0 unchanged, 0 suspended.")
    assert Authority.objects.get(pk="IE-DOJ").enforcing is True
    assert Authority.objects.get(pk="FR-PNAT").enforcing is False


@pytest.mark.django_db
def test_enforcing_key_must_be_a_boolean(tmp_path):
    path = registry_file(tmp_path, entry("IE-DOJ", enforcing="yes", domains=["justice.ie"]))
    assert_refused_and_nothing_imported(path, "IE-DOJ", "field 'enforcing': must be true or false")


@pytest.mark.django_db
def test_marking_an_authority_enforcing_is_a_recorded_change(tmp_path):
    import_registry(registry_file(tmp_path, entry("IE-DOJ", domains=["justice.ie"])))
    path = registry_file(tmp_path, entry("IE-DOJ", enforcing=True, domains=["justice.ie"]))

    assert import_registry(path).endswith("0 added, 1 changed, 0 unchanged, 0 suspended.")
    change = RegistryChange.objects.filter(authority_id="IE-DOJ").latest("changed_at")
    assert change.changes["enforcing"] == [False, True]
