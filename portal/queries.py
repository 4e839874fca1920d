"""Reads whose SQL the ORM writes once per process (docs/performance.md, "SQL written once").

Building a queryset's SQL (Django's compiler: the select list, the joins, the quoting) cost
0.2 to 0.8 ms of CPU per query on the review page, more than PostgreSQL took to plan and answer
it. A `Prepared` read keeps the SQL the ORM wrote for the first values it was given and runs it
again with the next values of the same count, building what the queryset would have built: model
instances (with their select_related rows) or values_list tuples. Where the ORM changed the values
on their way into the SQL (a UUID written as hex on SQLite, say), nothing is kept and the queryset
runs as usual: the shortcut never changes an answer.

`read_together` sends several prepared reads to PostgreSQL in one round trip."""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators


@dataclass(frozen=True)
class _Statement:
    """The SQL the ORM wrote for a read, and what turns its rows into the queryset's results."""

    compiler: object
    sql: str
    iterable: type

    def results(self, rows) -> list:
        compiler = self.compiler
        if compiler.has_extra_select:  # columns only the ordering needs
            rows = [row[: compiler.col_count] for row in rows]
        columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        if converters:
            rows = compiler.apply_converters(rows, converters)
        if self.iterable is ValuesListIterable:
            return [tuple(row) for row in rows]
        return _instances(compiler, rows)


class Prepared:
    """`build(*values)` is the queryset, the values its only parameters (a filter on them,
    never None: the ORM writes IS NULL for None, which SQL kept for a value cannot say). The
    SQL is kept by the number of values, so `build` must give the same query for every value
    of a count: a filter on them, never a branch on what they are."""

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self._build = build
        self._statements: dict[int, _Statement] = {}  # by the number of values

    def __call__(self, *values) -> list:
        if None in values:
            raise ValueError("a prepared read takes no None")
        statement = self._statements.get(len(values))
        if statement is None:
            queryset = self._build(*values)
            statement = self._written(queryset, values)
            if statement is None:
                return list(queryset)
            self._statements[len(values)] = statement
        with connections[statement.compiler.using].cursor() as cursor:
            cursor.execute(statement.sql, values)
            return statement.results(cursor.fetchall())

    @staticmethod
    def _written(queryset: QuerySet, values) -> _Statement | None:
        """The queryset's SQL, if the shortcut can run it again with other values."""
        query = queryset.query
        if queryset._iterable_class not in (ModelIterable, ValuesListIterable) or (
            query.annotation_select or query.extra_select or query.combinator
        ):
            return None  # columns the iterables reorder, combined queries
        compiler = query.get_compiler(queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # a filter nothing can match (no values for an IN)
            return None
        if list(params) != list(values):
            return None
        return _Statement(compiler, sql, queryset._iterable_class)

    def statement(self, values) -> _Statement | None:
        return self._statements.get(len(values)) if None not in values else None


def read_together(*reads: tuple[Prepared, tuple]) -> list[list]:
    """The results of several prepared reads, each (read, its values), in one round trip to
    PostgreSQL: their statements go as one message (Django's psycopg cursors bind parameters on
    the client side, as portal/audit_chain.py relies on too) and their answers are read in turn.
    Each round trip the review page saved was CPU on both sides. Elsewhere, or while a read has
    no SQL kept yet (its first use in this process), the reads run one after the other."""
    statements = [read.statement(values) for read, values in reads]
    one_by_one = None in statements or len({s.compiler.using for s in statements}) != 1
    if one_by_one or connections[statements[0].compiler.using].vendor != "postgresql":
        return [read(*values) for read, values in reads]
    with connections[statements[0].compiler.using].cursor() as cursor:
        cursor.execute(
            ";\n".join(statement.sql for statement in statements),
            [value for _, values in reads for value in values],
        )
        results = []
        for position, statement in enumerate(statements):
            if position:
                cursor.nextset()
            results.append(statement.results(cursor.fetchall()))
    return results


def _instances(compiler, rows) -> list:
    """The model instances of `rows`, as django.db.models.query.ModelIterable builds them."""
    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    names = [column.target.attname for column, _, _ in select[start:end]]
    populators = get_related_populators(klass_info, select, compiler.using)
    model = klass_info["model"]
    instances = []
    for row in rows:
        instance = model.from_db(compiler.using, names, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        instances.append(instance)
    return instances
