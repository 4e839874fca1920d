# Reserved for issue 13 (passkeys); filled in by the work on that finding.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("authorities", "0007_signup_mailbox")]

    operations = []
