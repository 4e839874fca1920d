"""Every API call, in the access log (requests_app.audit) under the client's officer."""

from portal.http import client_ip
from requests_app.audit import access_log_record
from requests_app.models import AccessLog


def api_call_record(request, response) -> None:
    client = request.auth
    access_log_record(
        user=client.officer,
        action=AccessLog.Action.API_CALL,
        object_ref=f"{client.token_prefix} {request.method} {request.path} {response.status_code}",
        ip=client_ip(request._request),
    )
