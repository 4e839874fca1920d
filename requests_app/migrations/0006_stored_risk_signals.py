# Issue 13, finding 9: the risk signals computed at submission are stored with the request.
# Requests submitted before this migration keep risk_snapshot NULL ("not recorded at
# submission"): nothing is computed for them after the fact.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0005_audit_hash_chain")]

    operations = [
        migrations.AddField(
            model_name="legalrequest",
            name="risk_snapshot",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="legalrequest",
            name="risk_signal_count",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
    ]
