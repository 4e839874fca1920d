# Reserved for issue 13 (signup_mailbox); filled in by the work on that finding.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("authorities", "0006_otp_throttle")]

    operations = []
