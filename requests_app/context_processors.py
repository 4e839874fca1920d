from . import roles
from .alerts import requests_with_failing_alerts
from .notifications import notifications_failing


def legal_team(request) -> dict:
    """Roles for the navigation, and for leads the e-mails that keep failing and the requests
    whose alerts fail: the route by which leads learn that alerts are not getting out."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    context = {"is_legal_team": roles.is_legal_team(user), "is_lead": roles.is_lead(user)}
    if context["is_lead"]:
        context["failing_emails"] = notifications_failing().count()
        # Requests the deadline sweep keeps failing on: no alert goes out for them at all.
        context["failing_alerts"] = requests_with_failing_alerts().count()
    return context
