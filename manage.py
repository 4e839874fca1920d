#!/usr/bin/env python
import os
import sys

# Commands that only read the models and write migration files: they run the same with the
# development settings, so that `manage.py makemigrations --check` needs no environment. Every
# other command gets the settings as the environment gives them (no defaults for secrets).
MODEL_ONLY_COMMANDS = {"makemigrations"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if len(sys.argv) > 1 and sys.argv[1] in MODEL_ONLY_COMMANDS:
        os.environ.setdefault("DJANGO_DEBUG", "1")

    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 (reading it loads the settings)
    except ImproperlyConfigured as error:
        # Django would carry on without settings and fail later with "Models aren't loaded yet".
        sys.exit(
            f"manage.py: {error}\nSet it in the environment (README: 'Production'), "
            "or use `make run` / `make test`, which set a development or test environment."
        )
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
