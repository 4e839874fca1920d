"""portal/queries.py: a read whose SQL the ORM wrote once answers exactly what the queryset
would, with the next values too (instances with their select_related rows, values_list tuples,
the model's order, IN lists of each length), and falls back to the queryset where it cannot."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from authorities.models import Authority, AuthorityDomain, User
from portal.queries import Prepared
from tests.factories import AuthorityFactory, OfficerFactory

pytestmark = pytest.mark.django_db


class Counted:
    """A queryset builder that counts how often the ORM was asked to build the query."""

    def __init__(self, build):
        self.build, self.calls = build, 0

    def __call__(self, *values):
        self.calls += 1
        return self.build(*values)


def fields_of(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_instances_and_their_select_related_rows_are_the_querysets_for_every_value():
    officers = [OfficerFactory(authority=AuthorityFactory()) for _ in range(3)]
    build = Counted(lambda email: User.objects.select_related("authority").filter(email=email))
    read = Prepared(build)

    for officer in officers:
        with CaptureQueriesContext(connection) as queries:
            [got] = read(officer.email)
        [expected] = build.build(officer.email)
        assert fields_of(got) == fields_of(expected)
        assert fields_of(got.authority) == fields_of(expected.authority)
        assert got.authority.pk == officer.authority_id
        assert len(queries) == 1  # the authority came in the same row: no second query
    assert build.calls == 1  # the SQL was written once, for the first value
    assert read("nobody@example.org") == []


def test_rows_keep_the_models_order_and_values_list_tuples_their_columns():
    authority = AuthorityFactory()
    for name in ("c.interieur.gouv.fr", "a.interieur.gouv.fr", "b.interieur.gouv.fr"):
        AuthorityDomain.objects.create(authority=authority, domain=name)
    by_authority = Prepared(
        lambda pk: AuthorityDomain.objects.filter(authority_id=pk).order_by("-domain")
    )
    pairs = Prepared(
        lambda *names: AuthorityDomain.objects.filter(domain__in=names).values_list(
            "domain", "authority__status"
        )
    )

    assert [d.domain for d in by_authority(authority.pk)] == [
        d.domain
        for d in AuthorityDomain.objects.filter(authority_id=authority.pk).order_by("-domain")
    ]
    assert sorted(pairs("a.interieur.gouv.fr", "b.interieur.gouv.fr")) == [
        ("a.interieur.gouv.fr", authority.status),
        ("b.interieur.gouv.fr", authority.status),
    ]
    # Another count of values: SQL of its own, not the two-value SQL with a value missing.
    assert pairs("c.interieur.gouv.fr") == [("c.interieur.gouv.fr", authority.status)]
    assert sorted(pairs("c.interieur.gouv.fr", "a.interieur.gouv.fr", "x.gouv.fr")) == [
        ("a.interieur.gouv.fr", authority.status),
        ("c.interieur.gouv.fr", authority.status),
    ]
    assert pairs() == []  # an IN of nothing matches nothing, as the ORM says


def test_none_is_refused_and_values_the_orm_rewrites_are_left_to_the_queryset():
    authority = AuthorityFactory()
    read = Prepared(lambda pk: Authority.objects.filter(pk=pk))
    with pytest.raises(ValueError):
        read(None)  # the ORM writes IS NULL for None: SQL kept for a value cannot say it

    # An integer where the key is text: the ORM turns it into "7" on its way into the SQL, so
    # nothing is kept and every read is the queryset's own.
    build = Counted(lambda number: Authority.objects.filter(pk=number))
    numbered = Prepared(build)
    assert numbered(7) == [] and numbered(8) == [] and build.calls == 2
    assert read(authority.pk)[0].name_en == authority.name_en


def test_reads_together_answer_as_each_alone_in_one_round_trip_once_their_sql_is_kept():
    from portal.queries import read_together

    officers = [OfficerFactory(authority=AuthorityFactory()) for _ in range(2)]
    user = Prepared(lambda email: User.objects.select_related("authority").filter(email=email))
    domains = Prepared(
        lambda pk: AuthorityDomain.objects.filter(authority_id=pk).values_list("domain", "pk")
    )

    def reads(officer):
        return (user, (officer.email,)), (domains, (officer.authority_id,))

    # First use in this process: no SQL kept yet, so each read alone (and its SQL kept).
    with CaptureQueriesContext(connection) as queries:
        first_user, first_domains = read_together(*reads(officers[0]))
    assert len(queries) == 2
    with CaptureQueriesContext(connection) as queries:
        second_user, second_domains = read_together(*reads(officers[1]))
    assert len(queries) == 1  # both statements in one message
    for officer, (found, its_domains) in zip(
        officers, [(first_user, first_domains), (second_user, second_domains)], strict=True
    ):
        [alone] = user(officer.email)
        assert [fields_of(u) for u in found] == [fields_of(alone)]
        assert found[0].authority.pk == officer.authority_id
        assert its_domains == domains(officer.authority_id) != []
