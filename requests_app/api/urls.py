from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from portal.access import public

from . import views
from .problems import not_found

app_name = "api"


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema, public: a client reads it before it has a token; it holds no data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    portal_access = "public"


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from our own static files (drf-spectacular-sidecar) and its script as a file:
    the strict CSP stays. A page of the portal: login and second factor, as every page."""

    authentication_classes = []
    permission_classes = [AllowAny]
    template_name = "api/swagger_ui.html"
    url_name = "api:schema"


urlpatterns = [
    path("schema/", public(SchemaView.as_view()), name="schema"),
    path("docs/", DocsView.as_view(), name="docs"),
    path("requests/", views.RequestListView.as_view(), name="requests"),
    path("requests/<uuid:public_id>/", views.RequestDetailView.as_view(), name="request"),
    path("requests/<uuid:public_id>/submit/", views.RequestSubmitView.as_view(), name="submit"),
    path(
        "requests/<uuid:public_id>/withdraw/", views.RequestWithdrawView.as_view(), name="withdraw"
    ),
    path("requests/<uuid:public_id>/targets/", views.TargetListView.as_view(), name="targets"),
    path(
        "requests/<uuid:public_id>/documents/", views.DocumentListView.as_view(), name="documents"
    ),
    path("requests/<uuid:public_id>/messages/", views.MessageListView.as_view(), name="messages"),
    path(
        "requests/<uuid:public_id>/deliveries/",
        views.DeliveryListView.as_view(),
        name="deliveries",
    ),
    path(
        "requests/<uuid:public_id>/deliveries/<uuid:produced_id>/",
        views.DeliveryDownloadView.as_view(),
        name="delivery",
    ),
    path("requests/<uuid:public_id>/receipt/", views.ReceiptDownloadView.as_view(), name="receipt"),
    path("events/", views.EventFeedView.as_view(), name="events"),
    # The enforcing authority's side of e-Evidence orders (Art. 8, 10, 12).
    path("enforcing/orders/", views.EnforcingOrderListView.as_view(), name="enforcing_orders"),
    path(
        "enforcing/orders/<uuid:public_id>/",
        views.EnforcingOrderDetailView.as_view(),
        name="enforcing_order",
    ),
    path(
        "enforcing/orders/<uuid:public_id>/documents/<uuid:attachment_id>/",
        views.EnforcingDocumentView.as_view(),
        name="enforcing_document",
    ),
    path(
        "enforcing/orders/<uuid:public_id>/confirm/",
        views.EnforcingConfirmView.as_view(),
        name="enforcing_confirm",
    ),
    path(
        "enforcing/orders/<uuid:public_id>/grounds/",
        views.EnforcingGroundsView.as_view(),
        name="enforcing_grounds",
    ),
    # Last: anything else under /api/v1/ is a problem 404 (unnamed: no page of its own);
    # [\s\S], not ".", so that a path with a line break in it is one too.
    re_path(r"^[\s\S]*$", not_found),
]
