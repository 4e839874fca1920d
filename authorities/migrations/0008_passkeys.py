# Issue 13 (passkeys): account events for adding and removing a passkey. Choices only: no SQL.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("authorities", "0007_signup_mailbox")]

    operations = [
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
                    ("passkey_added", "Passkey added"),
                    ("passkey_removed", "Passkey removed"),
                ],
                max_length=30,
            ),
        ),
    ]
