from django.urls import path

from . import enforcing_views as views

app_name = "enforcing"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("<uuid:public_id>/", views.order_detail, name="detail"),
    path(
        "<uuid:public_id>/documents/<uuid:attachment_id>/",
        views.order_attachment,
        name="attachment",
    ),
    path("<uuid:public_id>/confirm/", views.order_confirm, name="confirm"),
    path("<uuid:public_id>/grounds/", views.order_grounds, name="grounds"),
]
