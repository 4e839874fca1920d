from django.urls import path

from . import views

app_name = "requests"

urlpatterns = [
    path("", views.request_list, name="list"),
    path("new/", views.request_new, name="new"),
    path("new/<slug:instrument>/", views.request_create, name="create"),
    path("<uuid:public_id>/", views.request_detail, name="detail"),
    path("<uuid:public_id>/edit/", views.request_edit, name="edit"),
    path("<uuid:public_id>/messages/", views.message_post, name="message"),
    path("<uuid:public_id>/withdraw/", views.withdraw, name="withdraw"),
    path("<uuid:public_id>/delete/", views.delete_draft, name="delete_draft"),
    path("<uuid:public_id>/copy/", views.request_copy, name="copy"),
    path("<uuid:public_id>/preservation/", views.preservation, name="preservation"),
    path("<uuid:public_id>/validation/", views.validation, name="validation"),
    path("<uuid:public_id>/notice/", views.refusal_notice, name="notice"),
    path("<uuid:public_id>/receipt/", views.receipt_download, name="receipt"),
    # The sealed notices and delivery manifests (sealed_documents.py).
    path(
        "<uuid:public_id>/sealed/<uuid:document_id>/",
        views.sealed_document_download,
        name="sealed",
    ),
    path(
        "<uuid:public_id>/produced/<uuid:produced_id>/",
        views.produced_download,
        name="produced",
    ),
    path(
        "<uuid:public_id>/documents/<uuid:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
]
