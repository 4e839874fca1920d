from django.contrib import admin
from django.urls import include, path

from . import metrics, views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),  # bearer token or verified staff, else 404
    path("ops/", views.ops_status, name="ops_status"),
    path("", include("authorities.site_urls")),  # home/, i18n/setlang/ (no namespace)
    path("", include("authorities.urls")),
    path("requests/", include("requests_app.urls")),
    path("review/", include("requests_app.review.urls")),
    path("enforcing/", include("requests_app.enforcing_urls")),
    path("api/v1/", include("requests_app.api.urls")),
    path("api-clients/", include("requests_app.api.web_urls")),
    path("admin/", admin.site.urls),
]
