"""The access log is append-only in the database and hash-chained: tampering done behind the
application's back (raw SQL with the trigger disabled) is found by `manage.py verify_audit`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from requests_app.models import AccessLog
from requests_app.review import access_log_record
from tests.figures import record

pytestmark = pytest.mark.django_db

TABLE = "requests_app_accesslog"


@pytest.fixture
def chain(officer):
    for n in range(6):
        access_log_record(user=officer, action="view_request", object_ref=f"LR-{n}", ip="192.0.2.1")
    return list(AccessLog.objects.order_by("id"))


def behind_the_apps_back(*statements):
    with connection.cursor() as cursor:
        # Fire the deferred foreign-key checks of the rows just written, so the table can be
        # altered inside the test's transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER access_log_append_only")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER access_log_append_only")


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
