from django.conf import settings

from . import roles
from .models import Notification


def legal_team(request) -> dict:
    """Roles for the navigation, and for leads the e-mails that keep failing: the route by
    which leads learn that alerts are not getting out."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    context = {"is_legal_team": roles.is_legal_team(user), "is_lead": roles.is_lead(user)}
    if context["is_lead"]:
        context["failing_emails"] = Notification.objects.filter(
            state__in=[Notification.State.PENDING, Notification.State.SENDING],
            attempts__gte=settings.PORTAL_ALERT_FAILURE_BANNER,
        ).count()
    return context
