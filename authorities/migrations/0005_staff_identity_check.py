# Reserved for issue 13 (staff_identity_check); filled in by the work on that finding.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("authorities", "0004_user_time_zone")]

    operations = []
