"""The legal team's groups, and the database-level guard that makes the access log append-only."""

from django.db import migrations

TRIGGER = """
CREATE OR REPLACE FUNCTION portal_reject_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS access_log_append_only ON requests_app_accesslog;
CREATE TRIGGER access_log_append_only
    BEFORE UPDATE OR DELETE ON requests_app_accesslog
    FOR EACH ROW EXECUTE FUNCTION portal_reject_audit_change();
"""
# No TRUNCATE trigger: test databases are emptied with TRUNCATE between transactional tests;
# the portal itself never truncates.
DROP = """
DROP TRIGGER IF EXISTS access_log_append_only ON requests_app_accesslog;
"""


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ("reviewer", "lead"):
        Group.objects.get_or_create(name=name)


def add_trigger(apps, schema_editor):
    # PostgreSQL in production and tests; the embedded SQLite demo relies on the model guard.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("requests_app", "0002_review"),
    ]

    operations = [
        migrations.RunPython(create_groups, migrations.RunPython.noop),
        migrations.RunPython(add_trigger, drop_trigger),
    ]
