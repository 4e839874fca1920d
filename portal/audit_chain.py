"""Append-only, hash-chained tables: the access log (requests_app) and the account events
(authorities). Each row's SHA-256 covers its content and the previous row's hash, so an edit, a
deletion or an insertion made behind the application's back breaks the chain at that row, and
`manage.py verify_audit` names it. The application refuses to update or delete a row (model and
queryset), and so does PostgreSQL (a trigger each table's migration adds with `trigger_sql`).

The apps import this module; it imports no app."""

import hashlib
from typing import ClassVar

from django.core.exceptions import PermissionDenied
from django.db import connections, models, router, transaction

GENESIS_HASH = "0" * 64
REFUSED = "Audit rows are append-only."


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionDenied(REFUSED)

    def delete(self):
        raise PermissionDenied(REFUSED)

    def bulk_create(self, *args, **kwargs):
        raise PermissionDenied("Chained rows are written one by one (each hashes the previous).")

    def bulk_update(self, *args, **kwargs):
        raise PermissionDenied(REFUSED)


class HashChainedModel(models.Model):
    """A row of a chain. A subclass gives `content()` (every field but the id and the hashes)
    and `chain_lock`, the pg_advisory_xact_lock key under which one writer extends its chain."""

    chain_lock: ClassVar[int]

    prev_hash = models.CharField(max_length=64, default="")
    row_hash = models.CharField(max_length=64, default="")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        """Append: lock the chain, link to its last row, hash, insert (in one transaction, so
        two writers never link to the same row)."""
        if self.pk is not None:
            raise PermissionDenied(REFUSED)
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        connection = connections[using]
        if connection.vendor == "postgresql":
            self._append_postgresql(connection)
            self._state.adding, self._state.db = False, using
            return
        with transaction.atomic(using=using):
            last = (
                type(self)
                ._base_manager.using(using)
                .order_by("-id")
                .values_list("row_hash", flat=True)
                .first()
            )
            self.prev_hash = last or GENESIS_HASH
            self.row_hash = self.compute_hash(self.prev_hash)
            super().save(*args, **kwargs)

    def _append_postgresql(self, connection) -> None:
        """The append in one message, one round trip (the review page appends on every view):
        two statements that PostgreSQL runs as one transaction (an implicit one, or the
        caller's), so the lock is held until the row is committed. The lock is the first
        statement, not part of the insert: the insert's snapshot is taken after the lock is
        granted, so it sees the row the previous holder committed. PostgreSQL hashes exactly
        what compute_hash hashes (the previous hash, a newline, content() in UTF-8), and the
        row's hash is checked against compute_hash before this returns."""
        fields = [
            f
            for f in self._meta.concrete_fields
            if not f.primary_key and f.attname not in ("prev_hash", "row_hash")
        ]
        values = [f.get_db_prep_save(f.pre_save(self, True), connection) for f in fields]
        quote = connection.ops.quote_name
        table, pk = quote(self._meta.db_table), quote(self._meta.pk.column)
        columns = ", ".join(quote(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        # Identifiers from the model's _meta, quoted; every value is a bound parameter.
        sql = f"""SELECT pg_advisory_xact_lock(%s);
            INSERT INTO {table} ({columns}, prev_hash, row_hash)
            SELECT {placeholders}, last.hash,
                encode(sha256(convert_to(last.hash || %s, 'UTF8')), 'hex')
            FROM (SELECT coalesce(
                (SELECT row_hash FROM {table} ORDER BY {pk} DESC LIMIT 1), %s
            ) AS hash) AS last
            RETURNING {pk}, prev_hash, row_hash"""  # noqa: S608  # nosec B608
        params = [self.chain_lock, *values, f"\n{self.content()}", GENESIS_HASH]
        # Inside the caller's atomic block, a failure marks it for rollback (as Model.save does).
        with (
            transaction.mark_for_rollback_on_error(connection.alias),
            connection.cursor() as cursor,
        ):
            # Two statements in one execute: Django's psycopg cursors bind parameters on the
            # client side, which sends them as one simple-protocol message.
            cursor.execute(sql, params)
            cursor.nextset()
            self.pk, self.prev_hash, self.row_hash = cursor.fetchone()
        if self.row_hash != self.compute_hash(self.prev_hash):
            raise RuntimeError(f"{self._meta.db_table} row {self.pk}: PostgreSQL's hash differs")

    def delete(self, *args, **kwargs):
        raise PermissionDenied(REFUSED)

    def content(self) -> str:
        raise NotImplementedError

    def compute_hash(self, prev_hash: str) -> str:
        return hashlib.sha256(f"{prev_hash}\n{self.content()}".encode()).hexdigest()


def chain_verify(model: type[HashChainedModel]) -> tuple[int, int | None, str]:
    """Walk a chain in order: (rows checked, id of the first bad row or None, why)."""
    previous = GENESIS_HASH
    checked = 0
    for row in model._base_manager.order_by("id").iterator(chunk_size=2000):
        if row.prev_hash != previous:
            return (
                checked,
                row.pk,
                "does not follow the previous row (a row was removed or inserted)",
            )
        if row.compute_hash(row.prev_hash) != row.row_hash:
            return checked, row.pk, "its content does not match its hash (edited)"
        previous = row.row_hash
        checked += 1
    return checked, None, ""


def chain_backfill(rows, content) -> None:
    """Hash existing rows in id order (a migration adding a chain to a table with rows);
    `content(row)` must give what the model's content() gives for it."""
    previous = GENESIS_HASH
    for row in rows:
        row.prev_hash = previous
        row.row_hash = hashlib.sha256(f"{previous}\n{content(row)}".encode()).hexdigest()
        row.save(update_fields=["prev_hash", "row_hash"])
        previous = row.row_hash


# The database's own guard. No TRUNCATE trigger: test databases are emptied with TRUNCATE
# between transactional tests; the portal itself never truncates.
_REJECT_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_reject_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def trigger_sql(table: str, trigger: str) -> tuple[str, str]:
    """(create, drop) SQL of the trigger that refuses UPDATE and DELETE on `table`."""
    create = f"""{_REJECT_FUNCTION}
DROP TRIGGER IF EXISTS {trigger} ON {table};
CREATE TRIGGER {trigger}
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION portal_reject_audit_change();
"""
    return create, f"DROP TRIGGER IF EXISTS {trigger} ON {table};"
