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


def is_legal_team(user) -> bool:
    return not getattr(user, "is_officer", False) and bool(_groups(user) & {REVIEWER, LEAD})


def is_lead(user) -> bool:
    return not getattr(user, "is_officer", False) and LEAD in _groups(user)
