"""Who a user is: the roles, in one place. What each role may do is not here but in
requests_app.policies (ROLE_CAPABILITIES); a page or a service never tests a role.

An officer of a competent authority has the role `officer` (an account tied to an authority).
Platform accounts get their roles from Django groups of the same name, which staff give in the
admin (the user's "Platform roles"); migrations create the groups."""

OFFICER = "officer"
REVIEWER = "reviewer"
LEAD = "lead"
AUDITOR = "auditor"  # the platform's compliance staff: reads everything, changes nothing
# An officer of the enforcing authority (e-Evidence Art. 8): an approved officer whose registry
# authority is marked `enforcing` and is of settings.PORTAL_ENFORCING_STATE.
ENFORCER = "enforcer"

# The groups a platform account may hold, each a role of the same name.
PLATFORM_ROLES = (REVIEWER, LEAD, AUDITOR)
# The people who work requests: deadline alerts and the review links in e-mails go to them.
LEGAL_TEAM = (REVIEWER, LEAD)


def _groups(user) -> set[str]:
    cached = getattr(user, "_portal_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._portal_groups = cached
    return cached


def _platform_account_in_standing(user) -> bool:
    # An officer never holds a platform role; nor does a platform account whose second factor
    # staff reset until another staff member reinstates it (whoever reads its mail could have
    # enrolled a new one).
    return not getattr(user, "is_officer", False) and not getattr(
        user, "awaits_reinstatement", False
    )


def roles_of(user) -> frozenset[str]:
    if user is None or not user.is_authenticated:
        return frozenset()
    if getattr(user, "is_officer", False):
        if is_enforcing_officer(user):
            return frozenset({OFFICER, ENFORCER})
        return frozenset({OFFICER})
    if not _platform_account_in_standing(user):
        return frozenset()
    return frozenset(_groups(user) & set(PLATFORM_ROLES))


def is_enforcing_officer(user) -> bool:
    from django.conf import settings

    authority = user.authority
    return (
        user.is_approved
        and authority.enforcing
        and authority.country == settings.PORTAL_ENFORCING_STATE
    )


def is_legal_team(user) -> bool:
    return bool(roles_of(user) & set(LEGAL_TEAM))
