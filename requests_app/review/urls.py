from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/report.csv", views.report_csv, name="report_csv"),
    path("audit/", views.access_log, name="access_log"),
    path("<uuid:public_id>/", views.detail, name="detail"),
    path("<uuid:public_id>/documents/<uuid:attachment_id>/", views.attachment, name="attachment"),
    path("<uuid:public_id>/actions/<slug:name>/", views.action, name="action"),
]
