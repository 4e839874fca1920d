"""The pages of this app that the whole site names without a namespace: where a login lands
(LOGIN_REDIRECT_URL = "home") and the header's language picker. Included by portal.urls."""

from django.urls import path

from . import views

urlpatterns = [
    path("home/", views.home, name="home"),
    # Django's set_language, wrapped so that it is public and remembers a logged-in user's choice.
    path("i18n/setlang/", views.set_language, name="set_language"),
]
