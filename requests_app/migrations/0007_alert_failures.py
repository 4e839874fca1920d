# Issue 14: a request the deadline sweep fails on is recorded (count, error), not a rolled-back
# batch; outbox rows that keep failing are marked failed and still retried.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0006_stored_risk_signals")]

    operations = [
        migrations.AddField(
            model_name="legalrequest",
            name="alert_error",
            field=models.CharField(blank=True, db_default="", default="", max_length=500),
        ),
        migrations.AddField(
            model_name="legalrequest",
            name="alert_failures",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        # /healthz, the lead dashboard and the leads' banner: requests whose alerts are failing.
        migrations.AddIndex(
            model_name="legalrequest",
            index=models.Index(
                condition=models.Q(("alert_failures__gt", 0)),
                fields=["reference"],
                name="request_alerts_failing",
            ),
        ),
        # The delivery sweep: outbox rows that kept failing, still retried with backoff.
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("state", "failed")),
                fields=["send_after"],
                name="notification_failed_due",
            ),
        ),
    ]
