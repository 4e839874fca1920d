# Issue 13, finding 7: wrong second-factor codes counted per browser bucket (OTPFailure), and
# backup codes no longer throttled by django-otp's per-device back-off.
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("authorities", "0005_staff_identity_check")]

    operations = [
        migrations.RemoveField(model_name="backupcodedevice", name="throttling_failure_count"),
        migrations.RemoveField(model_name="backupcodedevice", name="throttling_failure_timestamp"),
        migrations.CreateModel(
            name="OTPFailure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "known_device",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="authorities.knowndevice",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["user", "known_device", "-at"], name="otp_failure_bucket_at"
                    )
                ],
            },
        ),
    ]
