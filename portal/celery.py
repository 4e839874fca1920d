"""The Celery app: configured from the CELERY_* Django settings, tasks from each app's tasks.py."""

import os

from celery import Celery, signals

from portal import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _keep_django_logging(**kwargs) -> None:
    """Celery would replace the root handler with its own text format; keep settings.LOGGING
    (JSON in production), which Django applied when the worker set it up."""


# Every line a task logs carries its task id and name (portal/logs.py).
signals.task_prerun.connect(logs.task_started)
signals.task_postrun.connect(logs.task_finished)
