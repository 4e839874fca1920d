"""The access log and the account events are append-only in the database and hash-chained:
tampering done behind the application's back (raw SQL with the trigger disabled) is found by
`manage.py verify_audit`, which names the first bad row of each chain."""

import importlib
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from authorities.accounts import account_event_record
from authorities.models import AccountEvent
from requests_app.audit import access_log_record
from requests_app.models import AccessLog
from tests.figures import record

pytestmark = pytest.mark.django_db

TABLE = "requests_app_accesslog"


@pytest.fixture
def chain(officer):
    for n in range(6):
        access_log_record(user=officer, action="view_request", object_ref=f"LR-{n}", ip="192.0.2.1")
    return list(AccessLog.objects.order_by("id"))


def behind_the_apps_back(*statements, table=TABLE, trigger="access_log_append_only"):
    with connection.cursor() as cursor:
        # Fire the deferred foreign-key checks of the rows just written, so the table can be
        # altered inside the test's transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_intact_chain_verifies(chain):
    assert "audit log intact: 6 rows verified" in verify()


def test_edited_row_is_reported(chain):
    behind_the_apps_back(
        (f"UPDATE {TABLE} SET object_ref = 'LR-forged' WHERE id = %s", [chain[2].pk])
    )
    with pytest.raises(CommandError, match=f"row {chain[2].pk} its content does not match"):
        verify()
    record("tamper case", "edit")


def test_edited_row_with_a_recomputed_hash_breaks_the_next_link(chain):
    row = chain[2]
    row.object_ref = "LR-forged"
    forged = row.compute_hash(row.prev_hash)
    behind_the_apps_back(
        (
            f"UPDATE {TABLE} SET object_ref = 'LR-forged', row_hash = %s WHERE id = %s",
            [forged, row.pk],
        )
    )
    with pytest.raises(CommandError, match=f"row {chain[3].pk} does not follow"):
        verify()
    record("tamper case", "edit with a recomputed hash")


def test_deleted_row_is_reported(chain):
    behind_the_apps_back((f"DELETE FROM {TABLE} WHERE id = %s", [chain[4].pk]))
    with pytest.raises(CommandError, match=f"row {chain[5].pk} does not follow"):
        verify()
    record("tamper case", "delete")


def test_inserted_row_is_reported(chain, officer):
    behind_the_apps_back(
        (
            f"INSERT INTO {TABLE} (at, user_id, ip_address, action, request_id, object_ref, "
            "prev_hash, row_hash) VALUES (now(), %s, NULL, 'view_request', NULL, 'LR-x', %s, %s)",
            [officer.pk, chain[-1].row_hash, "f" * 64],
        )
    )
    with pytest.raises(CommandError, match="its content does not match"):
        verify()
    record("tamper case", "insert")


def test_database_refuses_update_and_delete_with_the_trigger_on(chain):
    from django.db import DatabaseError, transaction

    for sql in (f"UPDATE {TABLE} SET object_ref = 'x'", f"DELETE FROM {TABLE}"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert "6 rows verified" in verify()


# --- Account events: the same chain, the same tamper cases ------------------------------------

EVENTS = "authorities_accountevent"


@pytest.fixture
def events(officer, staff):
    for n in range(6):
        account_event_record(
            user=officer,
            kind=AccountEvent.Kind.OTP_RESET if n % 2 else AccountEvent.Kind.LOGIN,
            actor=staff if n % 2 else None,
            ip="192.0.2.1",
            detail=f"event {n}",
        )
    return list(AccountEvent.objects.order_by("id"))


def events_behind_the_apps_back(*statements):
    behind_the_apps_back(*statements, table=EVENTS, trigger="account_event_append_only")


def test_intact_account_events_verify(events):
    assert "account events intact: 6 rows verified" in verify()


def test_staff_actor_erased_from_an_event_is_reported(events):
    # The insider's move: hide that staff did it.
    events_behind_the_apps_back(
        (f"UPDATE {EVENTS} SET actor_id = NULL WHERE id = %s", [events[1].pk])
    )
    with pytest.raises(
        CommandError, match=f"account events TAMPERED: row {events[1].pk} its content"
    ):
        verify()
    record("tamper case", "account event edit")


def test_account_event_edited_with_a_recomputed_hash_breaks_the_next_link(events):
    row = events[3]
    row.detail = "nothing happened"
    forged = row.compute_hash(row.prev_hash)
    events_behind_the_apps_back(
        (
            f"UPDATE {EVENTS} SET detail = 'nothing happened', row_hash = %s WHERE id = %s",
            [forged, row.pk],
        )
    )
    with pytest.raises(CommandError, match=f"account events TAMPERED: row {events[4].pk} does"):
        verify()
    record("tamper case", "account event edit with a recomputed hash")


def test_deleted_account_event_is_reported(events):
    events_behind_the_apps_back((f"DELETE FROM {EVENTS} WHERE id = %s", [events[1].pk]))
    with pytest.raises(CommandError, match=f"account events TAMPERED: row {events[2].pk} does"):
        verify()
    record("tamper case", "account event delete")


def test_inserted_account_event_is_reported(events, officer):
    events_behind_the_apps_back(
        (
            f"INSERT INTO {EVENTS} (at, user_id, kind, actor_id, ip_address, detail, "
            "prev_hash, row_hash) VALUES (now(), %s, 'login', NULL, NULL, '', %s, %s)",
            [officer.pk, events[-1].row_hash, "f" * 64],
        )
    )
    with pytest.raises(CommandError, match="account events TAMPERED: .* its content"):
        verify()
    record("tamper case", "account event insert")


def test_account_events_refuse_update_and_delete_in_the_app_and_the_database(events):
    from django.db import DatabaseError, transaction

    with pytest.raises(PermissionDenied):
        AccountEvent.objects.filter(pk=events[0].pk).update(detail="x")
    with pytest.raises(PermissionDenied):
        AccountEvent.objects.all().delete()
    with pytest.raises(PermissionDenied):
        events[0].save()
    for sql in (f"UPDATE {EVENTS} SET detail = 'x'", f"DELETE FROM {EVENTS}"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert "account events intact: 6 rows verified" in verify()


def test_migration_hashes_account_events_written_before_the_chain(officer, staff):
    """Events from before the chain (no hashes) get theirs in id order, the same the model
    computes, so verify_audit passes on an existing database."""
    name = "0005_staff_identity_check"
    migration = importlib.import_module(f"authorities.migrations.{name}")
    at = "2026-01-02 03:04:05.678901+00"
    events_behind_the_apps_back(
        *[
            (
                f"INSERT INTO {EVENTS} (at, user_id, kind, actor_id, ip_address, detail, "
                "prev_hash, row_hash) VALUES (%s, %s, %s, %s, %s, %s, '', '')",
                [at, officer.pk, kind, actor, ip, detail],
            )
            for kind, actor, ip, detail in [
                ("signed_up", None, "192.0.2.7", "FR-OFAC"),
                ("otp_reset", staff.pk, None, "Reset from the admin"),
                ("login", None, "2001:db8::1", ""),
            ]
        ]
    )
    # The models as that migration sees them; the backfill runs before it adds the trigger.
    state = MigrationLoader(connection).project_state(("authorities", name)).apps
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {EVENTS} DISABLE TRIGGER account_event_append_only")
    migration.hash_existing_events(state, None)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {EVENTS} ENABLE TRIGGER account_event_append_only")
    assert "account events intact: 3 rows verified" in verify()
    account_event_record(user=officer, kind=AccountEvent.Kind.LOGOUT)
    assert "account events intact: 4 rows verified" in verify()


@pytest.mark.parametrize("model", [AccessLog, AccountEvent])
def test_every_field_of_a_chained_row_is_in_its_hash(model, officer, staff):
    """A field added later but left out of content() could be edited unseen: each one counts."""
    if model is AccessLog:
        access_log_record(user=officer, action="view_request", object_ref="LR-1", ip="192.0.2.1")
    else:
        account_event_record(user=officer, kind="login", actor=staff, ip="192.0.2.1", detail="d")
    row = model.objects.get()
    fields = [
        f for f in model._meta.concrete_fields if f.name not in ("id", "prev_hash", "row_hash")
    ]
    for field in fields:
        original = getattr(row, field.attname)
        if field.is_relation:
            changed = None if original is not None and field.null else staff.pk + officer.pk
        elif field.get_internal_type() == "DateTimeField":
            changed = original.replace(year=original.year - 1)
        elif field.get_internal_type() == "GenericIPAddressField":
            changed = "198.51.100.9"
        else:
            changed = f"{original}x"
        setattr(row, field.attname, changed)
        assert row.compute_hash(row.prev_hash) != row.row_hash, field.name
        setattr(row, field.attname, original)
    assert row.compute_hash(row.prev_hash) == row.row_hash


# --- Appending: one round trip, one chain under concurrent writers -------------------------------


@pytest.mark.parametrize("ip", ["192.0.2.1", None])
def test_appending_a_row_is_one_round_trip(officer, django_assert_num_queries, ip):
    """The review page appends a row on every view (docs/performance.md): the chain's lock, the
    link to the last row, the hash and the insert go to PostgreSQL as one message."""
    access_log_record(user=officer, action="view_request", object_ref="LR-0", ip=ip)
    with django_assert_num_queries(1):
        access_log_record(user=officer, action="view_request", object_ref="LR-1é", ip=ip)
    first, second = AccessLog.objects.order_by("id")
    assert second.prev_hash == first.row_hash
    assert second.row_hash == second.compute_hash(second.prev_hash)
    assert "audit log intact: 2 rows verified" in verify()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_extend_one_chain(officer):
    """Writers on their own connections, at once: each row links to the one before it in id
    order (none to the same row), and every write is committed when the call returns."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def write(n: int) -> int:
        try:
            for k in range(10):
                access_log_record(user=officer, action="view_request", object_ref=f"LR-{n}-{k}")
                assert AccessLog.objects.filter(object_ref=f"LR-{n}-{k}").exists()
            return n
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(write, range(4))) == [0, 1, 2, 3]
    assert "audit log intact: 40 rows verified" in verify()
