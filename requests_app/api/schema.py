"""The OpenAPI schema's parts drf-spectacular cannot infer: the token scheme (an extension it
finds by class), and, in one postprocessing hook (SPECTACULAR_SETTINGS), the problem answers
every operation can give and the links between operations."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .problems import CONTENT_TYPE

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# Answers the machinery gives to any call, whatever the view (authentication, scopes and the
# registry re-check, the client's rate limit); the views document their own (409, 422...).
ANY_CALL = {
    401: "No token, or an unknown, revoked, expired or unapproved one.",
    403: "Scope missing, address not allowed, officer or authority blocked, or refused.",
    429: "Rate limited.",
}
WITH_PATH_ID = {404: "No such object for this authority."}
WITH_BODY = {
    400: "The body is not well-formed (JSON or multipart).",
    415: "The body's media type is not one the operation takes.",
}

# The links a client (and schemathesis's state machine) follows from a new draft: its id is the
# public_id of every operation on it.
FROM_A_REQUEST = {
    "read": "requests_read",
    "submit": "requests_submit",
    "withdraw": "requests_withdraw",
    "targets": "targets_list",
    "addTarget": "targets_add",
    "documents": "documents_list",
    "messages": "messages_list",
    "postMessage": "messages_post",
    "deliveries": "deliveries_list",
    "uploadDocument": "documents_upload",
}
# A draft with its document (or a target more) is ready to submit: the same request, named by
# the path of the call that added it.
TO_SUBMIT = {"submit": ("requests_submit", "$request.path.public_id")}
FROM_BODY = "$response.body#/id"
LINKED = {
    ("requests_create", "201"): {
        name: (target, FROM_BODY) for name, target in FROM_A_REQUEST.items()
    },
    ("documents_upload", "201"): TO_SUBMIT,
    ("targets_add", "201"): TO_SUBMIT,
    ("requests_submit", "200"): {
        "read": ("requests_read", FROM_BODY),
        "withdraw": ("requests_withdraw", FROM_BODY),
    },
    ("requests_submit", "202"): {"read": ("requests_read", FROM_BODY)},
}


class ClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "requests_app.api.authentication.ClientTokenAuthentication"
    name = "clientToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The token of an approved API client: Authorization: Bearer lrp_...",
        }


def problems_and_links(result, generator, request, public):
    """Every error answer as what it is, application/problem+json (RFC 9457), with the ones
    any call may get; and the links from a request's answer to the operations on it."""
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if "security" in operation and not operation["security"]:
                continue  # the public schema itself
            responses = operation["responses"]
            common = dict(ANY_CALL)
            if "{" in path:
                common.update(WITH_PATH_ID)
            if "requestBody" in operation:
                common.update(WITH_BODY)
            for code, description in common.items():
                responses.setdefault(str(code), {"description": description})
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    response["content"] = {CONTENT_TYPE: {"schema": PROBLEM_REF}}
            for (operation_id, code), links in LINKED.items():
                if operation.get("operationId") == operation_id and code in responses:
                    responses[code]["links"] = {
                        name: {"operationId": target, "parameters": {"public_id": source}}
                        for name, (target, source) in links.items()
                    }
    return result
