from django.db import models


class Heartbeat(models.Model):
    """When a periodic process (beat, a sweep) last proved it is alive; read by /healthz."""

    name = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
