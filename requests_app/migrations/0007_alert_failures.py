# Reserved for issue 14 (alert failures recorded per request); filled in by that work.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0006_stored_risk_signals")]

    operations = []
