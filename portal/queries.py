"""Reads whose SQL the ORM writes once per process (docs/performance.md, "SQL written once").

Building a queryset's SQL (Django's compiler: the select list, the joins, the quoting) cost
0.2 to 0.8 ms of CPU per query on the review page, more than PostgreSQL took to plan and answer
it. A `Prepared` read keeps the SQL the ORM wrote for the first values it was given and runs it
again with the next values of the same count, building what the queryset would have built: model
instances (with their select_related rows) or values_list tuples. Where the ORM changed the values
on their way into the SQL (a UUID written as hex on SQLite, say), nothing is kept and the queryset
runs as usual: the shortcut never changes an answer."""

from collections.abc import Callable

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators


class Prepared:
    """`build(*values)` is the queryset, the values its only parameters (a filter on them,
    never None: the ORM writes IS NULL for None, which SQL kept for a value cannot say)."""

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self._build = build
        self._compiled: dict[int, tuple] = {}  # by the number of values: (compiler, sql)

    def __call__(self, *values) -> list:
        if None in values:
            raise ValueError("a prepared read takes no None")
        compiled = self._compiled.get(len(values))
        if compiled is None:
            queryset = self._build(*values)
            query = queryset.query
            plain = not (query.annotation_select or query.extra_select or query.combinator)
            if queryset._iterable_class not in (ModelIterable, ValuesListIterable) or not plain:
                return list(queryset)  # columns the iterables reorder, combined queries
            compiler = queryset.query.get_compiler(queryset.db)
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:  # a filter nothing can match (no values for an IN)
                return list(queryset)
            if list(params) != list(values):
                return list(queryset)
            compiled = self._compiled[len(values)] = (compiler, sql, queryset._iterable_class)
        compiler, sql, iterable = compiled
        with connections[compiler.using].cursor() as cursor:
            cursor.execute(sql, values)
            rows = cursor.fetchall()
        if compiler.has_extra_select:  # columns only the ordering needs
            rows = [row[: compiler.col_count] for row in rows]
        columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        if converters:
            rows = compiler.apply_converters(rows, converters)
        if iterable is ValuesListIterable:
            return [tuple(row) for row in rows]
        return _instances(compiler, rows)


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
