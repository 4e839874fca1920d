# Issue 13, findings 4 and 5: account events hash-chained and append-only like the access log
# (existing rows hashed in id order, then the trigger); the staff call-back before a second-factor
# reset (IdentityCheck); who reset a second factor, so another staff member approves.
from datetime import UTC

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from portal.audit_chain import chain_backfill, trigger_sql

TABLE, TRIGGER = "authorities_accountevent", "account_event_append_only"


def _content(row) -> str:
    # A frozen copy of AccountEvent.content() as it is in this migration.
    return "|".join(
        [
            row.at.astimezone(UTC).isoformat(),
            str(row.user_id),
            row.kind,
            str(row.actor_id or ""),
            row.ip_address or "",
            row.detail,
        ]
    )


def hash_existing_events(apps, schema_editor):
    AccountEvent = apps.get_model("authorities", "AccountEvent")
    chain_backfill(AccountEvent.objects.order_by("id").iterator(chunk_size=2000), _content)


def add_trigger(apps, schema_editor):
    # PostgreSQL in production and tests; the embedded SQLite demo relies on the model guard.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(trigger_sql(TABLE, TRIGGER)[0], params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(trigger_sql(TABLE, TRIGGER)[1], params=None)


class Migration(migrations.Migration):
    dependencies = [("authorities", "0004_user_time_zone")]

    operations = [
        migrations.AddField(
            model_name="accountevent",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AddField(
            model_name="accountevent",
            name="row_hash",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.RunPython(hash_existing_events, migrations.RunPython.noop),
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.AddField(
            model_name="user",
            name="second_factor_reset_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="accountevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("signed_up", "Signed up"),
                    ("email_verified", "E-mail verified"),
                    ("approved", "Approved"),
                    ("approval_revoked", "Approval revoked"),
                    ("login", "Logged in with second factor"),
                    ("login_failed_otp", "Wrong second-factor code"),
                    ("otp_enrolled", "Second factor enrolled"),
                    ("otp_reset", "Second factor reset by staff"),
                    ("backup_code_used", "Backup code used"),
                    ("password_reset", "Password reset"),
                    ("blocked", "Blocked by registry re-check"),
                    ("logout", "Logged out"),
                    ("new_device", "Login from a new browser"),
                    ("email_change_asked", "E-mail change asked"),
                    ("email_changed", "E-mail changed"),
                    ("otp_replaced", "Second factor replaced by the user"),
                    ("identity_check", "Identity checked by staff (call-back)"),
                    ("changed_by_staff", "Account changed by staff"),
                    ("created_by_staff", "Account created by staff"),
                ],
                max_length=30,
            ),
        ),
        migrations.CreateModel(
            name="IdentityCheck",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("checked_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("phone_called", models.CharField(blank=True, max_length=20)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            (
                                "confirmed",
                                "Reached; identity and the request for a reset confirmed",
                            ),
                            ("not_reached", "Not reached"),
                            ("not_confirmed", "Reached; identity or the request NOT confirmed"),
                        ],
                        max_length=20,
                    ),
                ),
                ("note", models.CharField(max_length=500)),
                (
                    "authority",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="authorities.authority",
                    ),
                ),
                (
                    "checked_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="identity_checks",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-checked_at"]},
        ),
    ]
