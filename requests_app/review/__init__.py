"""The platform legal team's side: services.py (its actions on a request), forms.py, views.py
(queue, request detail, actions, lead dashboard, audit) and urls.py (namespace "review")."""
