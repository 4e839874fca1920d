from . import roles


def legal_team(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"is_legal_team": roles.is_legal_team(user), "is_lead": roles.is_lead(user)}
