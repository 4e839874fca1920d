"""The enforcing authority of e-Evidence orders (Regulation (EU) 2023/1543, Art. 8, 10, 12):
notification or the Art. 8(2) statement, the hold window, grounds for refusal, its own pages."""

from requests_app.checks import NOT_A_MEMBER_STATE, check_enforcing_state


def test_system_check_refuses_an_enforcing_state_outside_the_eu(settings):
    settings.PORTAL_ENFORCING_STATE = "CH"
    assert [e.id for e in check_enforcing_state()] == [NOT_A_MEMBER_STATE]
    settings.PORTAL_ENFORCING_STATE = "EL"  # Greece is GR in ISO 3166
    assert [e.id for e in check_enforcing_state()] == [NOT_A_MEMBER_STATE]
    settings.PORTAL_ENFORCING_STATE = "IE"
    assert check_enforcing_state() == []
