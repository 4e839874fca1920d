from django.urls import path

from . import views

app_name = "authorities"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/verify/<str:token>/", views.verify_email, name="verify_email"),
    path("login/", views.login_view, name="login"),
    path("login/second-factor/", views.otp_view, name="otp"),
    path("login/second-factor/setup/", views.enrol_view, name="enrol"),
    path("logout/", views.logout_view, name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("authority/officers/", views.authority_officers, name="officers"),
    path("account/", views.account, name="account"),
    path("account/email/<str:token>/", views.email_confirm, name="email_confirm"),
]
