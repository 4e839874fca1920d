from django.urls import path

from . import passkey_views, views

app_name = "authorities"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/verify/<str:token>/", views.verify_email, name="verify_email"),
    path("login/", views.login_view, name="login"),
    path("login/second-factor/", views.otp_view, name="otp"),
    path("login/second-factor/setup/", views.enrol_view, name="enrol"),
    path(
        "login/second-factor/passkey/begin/",
        passkey_views.PasskeyAuthBegin.as_view(),
        name="passkey_auth_begin",
    ),
    path(
        "login/second-factor/passkey/complete/",
        passkey_views.PasskeyAuthComplete.as_view(),
        name="passkey_auth_complete",
    ),
    path("logout/", views.logout_view, name="logout"),
    path("session/keep-alive/", views.session_keep_alive, name="keep_alive"),
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
    path(
        "account/backup-codes.txt",
        views.backup_codes_download,
        name="backup_codes_download",
    ),
    path("account/passkeys/", passkey_views.passkeys_page, name="passkeys"),
    path(
        "account/passkeys/register/begin/",
        passkey_views.PasskeyRegisterBegin.as_view(),
        name="passkey_register_begin",
    ),
    path(
        "account/passkeys/register/complete/",
        passkey_views.PasskeyRegisterComplete.as_view(),
        name="passkey_register_complete",
    ),
    path("account/email/<str:token>/", views.email_confirm, name="email_confirm"),
]
