"""The token scheme in the OpenAPI schema (drf-spectacular finds this extension by class)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "requests_app.api.authentication.ClientTokenAuthentication"
    name = "clientToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The token of an approved API client: Authorization: Bearer lrp_...",
        }
