# Reserved for issue 13 (otp_throttle); filled in by the work on that finding.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("authorities", "0005_staff_identity_check")]

    operations = []
