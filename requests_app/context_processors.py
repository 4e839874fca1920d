from .alerts import requests_with_failing_alerts
from .notifications import notifications_failing
from .policies import Capability, capabilities_of


def legal_team(request) -> dict:
    """What the user may do, for the navigation ({% if may.view_queue %}), and for those who
    watch the dashboard the e-mails that keep failing and the requests whose alerts fail: the
    route by which leads learn that alerts are not getting out."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    capabilities = capabilities_of(user)
    context: dict = {"may": {capability.value: True for capability in capabilities}}
    if Capability.VIEW_DASHBOARD in capabilities:
        context["failing_emails"] = notifications_failing().count()
        # Requests the deadline sweep keeps failing on: no alert goes out for them at all.
        context["failing_alerts"] = requests_with_failing_alerts().count()
    return context
