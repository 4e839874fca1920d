"""The platform legal team's roles, in one place: Django groups `reviewer` and `lead`."""

REVIEWER = "reviewer"
LEAD = "lead"


def _groups(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_portal_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._portal_groups = cached
    return cached


def _platform_account_in_standing(user) -> bool:
    # An officer never holds a legal-team role; nor does a platform account whose second factor
    # staff reset until another staff member reinstates it (whoever reads its mail could have
    # enrolled a new one).
    return not getattr(user, "is_officer", False) and not getattr(
        user, "awaits_reinstatement", False
    )


def is_legal_team(user) -> bool:
    return _platform_account_in_standing(user) and bool(_groups(user) & {REVIEWER, LEAD})


def is_lead(user) -> bool:
    return _platform_account_in_standing(user) and LEAD in _groups(user)
