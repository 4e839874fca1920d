from django.contrib import admin
from django.urls import include, path

from authorities.views import home

from . import metrics, views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),  # bearer token or verified staff, else 404
    path("home/", home, name="home"),
    path("ops/", views.ops_status, name="ops_status"),
    # Django's set_language, wrapped so that it is public and remembers a logged-in user's choice.
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("", include("authorities.urls")),
    path("requests/", include("requests_app.urls")),
    path("review/", include("requests_app.review_urls")),
    path("admin/", admin.site.urls),
]
