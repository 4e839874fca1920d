from django.urls import path

from . import web_views

app_name = "api_clients"

urlpatterns = [
    path("", web_views.client_list, name="list"),
    path("<uuid:client_id>/", web_views.client_detail, name="detail"),
    path("<uuid:client_id>/webhook/rotate/", web_views.webhook_rotate, name="webhook_rotate"),
    path("<uuid:client_id>/webhook/disable/", web_views.webhook_disable, name="webhook_disable"),
    path("<uuid:client_id>/revoke/", web_views.client_revoke, name="revoke"),
    path("emergencies/<uuid:public_id>/", web_views.emergency_confirm, name="confirm"),
]
