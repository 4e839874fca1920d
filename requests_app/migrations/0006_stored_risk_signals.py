# Reserved for issue 13 (stored_risk_signals); filled in by the work on that finding.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0005_audit_hash_chain")]

    operations = []
