from django.conf import settings
from django.db import models


class Heartbeat(models.Model):
    """When a periodic process (beat, a sweep) last proved it is alive; read by /healthz."""

    name = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class KeptForm(models.Model):
    """A form posted after its session ended, kept for its account until it logs in again
    (portal/kept_forms.py). In the database, not the cache: Redis may be flushed or restarted at
    any time, and a typed emergency request must survive that as it survives the session."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=500)
    data = models.JSONField()
    files = models.JSONField(default=list)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"form kept for user {self.user_id} at {self.path}"
