"""The platform's auditor role: a group staff give in the admin (requests_app.roles.AUDITOR;
what it may do is requests_app.policies.ROLE_CAPABILITIES)."""

from django.db import migrations


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="auditor")


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="auditor").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("requests_app", "0007_alert_failures"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
