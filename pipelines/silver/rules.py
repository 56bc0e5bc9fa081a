"""Row predicates derived from the Great Expectations suite, so routing is fast on Spark.

GX validates a whole batch but cannot hand back a Spark batch's failing rows. Each supported
expectation is translated here into the Spark predicate of its *unexpected* rows, with GX's own
semantics (nulls are ignored except by not-null; pairs are ignored only when both are missing).
A test proves, on hostile batches, that these predicates flag exactly GX's unexpected rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.silver import schema
from pipelines.silver.transform import present
from pipelines.spark import per_session

CRITICAL = "critical"
WARNING = "warning"


class UnsupportedExpectationError(ValueError):
    """The suite holds an expectation that has no row predicate here: routing would silently miss it."""


@dataclass(frozen=True)
class Rule:
    """One expectation of the suite and what it means for a single row."""

    type: str
    kwargs: Mapping[str, Any]
    severity: str
    notes: str

    @property
    def column(self) -> str:
        return str(self.kwargs.get("column") or self.kwargs["column_A"])

    @property
    def reason(self) -> str:
        """``column:expectation_type``, as quarantine rows and dq_results name it."""
        return f"{self.column}:{self.type}"

    def unexpected(self, params: Mapping[str, Any]) -> Column:
        """Predicate true for the rows GX counts as unexpected (a parameter: its value or a Column)."""
        return _PREDICATES[self.type](self.kwargs, params)

    def __hash__(self) -> int:  # rules key the per-session column cache; kwargs is a mapping: hash its JSON
        return hash((self.type, json.dumps(self.kwargs, sort_keys=True, default=str), self.severity))


def _value(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def _literal_like(value: Any, column: str) -> Column:
    """A bound (a value or a parameter's Column) in the column's type (timestamps arrive as ISO strings)."""
    bound = value if isinstance(value, Column) else F.lit(value)
    if column in _TIMESTAMP_COLUMNS:
        return bound.cast("timestamp")
    return bound


_TIMESTAMP_COLUMNS = {f.name for f in schema.TYPED_FIELDS.fields if f.dataType.typeName() == "timestamp"}


def _micros(instant: Column) -> Column:
    """A timestamp as microseconds since 1970, a decimal: compared so, a per-batch bound stays out of generated code.

    The optimizer folds a bound (a parameter's literal column cast to a timestamp) into a literal, and
    generated code spells timestamp and long literals out: each batch's new ``max_event_time`` made Spark
    generate and compile silver's parse-and-route stage again (4 classes, ~0.3 s a batch). A decimal literal
    is passed to the code as an object instead, so the code is the same every batch and compiled once.
    Precision 19 holds any long and is narrower than a long's (20): the optimizer cannot unwrap the cast.
    """
    return F.unix_micros(instant).cast("decimal(19,0)")


def _outside(measure: Column, kwargs: Mapping[str, Any], params: Mapping[str, Any], column: str) -> Column:
    low = _value(kwargs.get("min_value"), params)
    high = _value(kwargs.get("max_value"), params)
    timestamps = column in _TIMESTAMP_COLUMNS
    if timestamps:
        measure = _micros(measure)

    def typed(value: Any) -> Column:
        bound = _literal_like(value, column)
        return _micros(bound) if timestamps else bound

    conditions = []
    if low is not None:
        bound = typed(low)
        conditions.append(measure <= bound if kwargs.get("strict_min") else measure < bound)
    if high is not None:
        bound = typed(high)
        conditions.append(measure >= bound if kwargs.get("strict_max") else measure > bound)
    return F.lit(False) if not conditions else reduce(lambda a, b: a | b, conditions)


def _not_null(kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> Column:
    return F.col(kwargs["column"]).isNull()


def _between(kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> Column:
    column = F.col(kwargs["column"])
    return column.isNotNull() & _outside(column, kwargs, params, kwargs["column"])


def _lengths_between(kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> Column:
    column = F.col(kwargs["column"])
    return column.isNotNull() & _outside(F.length(column), kwargs, params, "")


def _in_set(kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> Column:
    column = F.col(kwargs["column"])
    return column.isNotNull() & ~column.isin(list(_value(kwargs["value_set"], params)))


def _match_regex(kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> Column:
    column = F.col(kwargs["column"])
    return column.isNotNull() & ~column.rlike(_value(kwargs["regex"], params))


def _pair_in_set(kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> Column:
    a, b = F.col(kwargs["column_A"]), F.col(kwargs["column_B"])
    pairs = [(x, y) for x, y in _value(kwargs["value_pairs_set"], params)]
    in_set = reduce(lambda acc, pair: acc | ((a == F.lit(pair[0])) & (b == F.lit(pair[1]))), pairs, F.lit(False))
    return ~(a.isNull() & b.isNull()) & ~F.coalesce(in_set, F.lit(False))


_PREDICATES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Column]] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _between,
    "expect_column_value_lengths_to_be_between": _lengths_between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_match_regex": _match_regex,
    "expect_column_pair_values_to_be_in_set": _pair_in_set,
}


_PARAMETER_KWARGS = {"min_value", "max_value"}


def rules_of(suite: Mapping[str, Any]) -> list[Rule]:
    """The suite's expectations as rules; refuses an expectation it cannot route.

    A suite parameter may stand for a bound only (``min_value``/``max_value``): routing binds parameters
    as columns of the batch, so that the rules' expressions are built once per session.
    """
    rules = []
    for expectation in suite["expectations"]:
        if expectation["type"] not in _PREDICATES:
            raise UnsupportedExpectationError(f"no row predicate for {expectation['type']}: add one to rules.py")
        parameterized = {
            key for key, value in expectation["kwargs"].items() if isinstance(value, dict) and "$PARAMETER" in value
        }
        if parameterized - _PARAMETER_KWARGS:
            raise UnsupportedExpectationError(
                f"{expectation['type']}: a suite parameter may stand for min_value or max_value only, "
                f"not {sorted(parameterized - _PARAMETER_KWARGS)}"
            )
        rules.append(
            Rule(
                expectation["type"],
                expectation["kwargs"],
                expectation.get("severity") or CRITICAL,
                expectation.get("notes") or "",
            )
        )
    return rules


def unexpected_counts(rules: list[Rule], params: Mapping[str, Any]) -> list[Column]:
    """Per rule, the number of rows it flags: GX's ``unexpected_count``, as aggregate columns ``_unexpected_<i>``.

    Because the predicates flag exactly GX's unexpected rows (tested), a batch's outcome per expectation
    is ``(success = count == 0, element_count = rows, unexpected_count = count)``, as GX reports it.
    """
    return [
        F.sum(F.when(rule.unexpected(params), 1).otherwise(0)).alias(f"_unexpected_{index}")
        for index, rule in enumerate(rules)
    ]


def _reasons(rules: list[Rule], params: Mapping[str, Any]) -> Column:
    flagged = [F.when(rule.unexpected(params), F.lit(rule.reason)) for rule in rules]
    if not flagged:
        return F.array().cast("array<string>")
    return present(flagged)


def _param_column(name: str) -> str:
    return f"_param_{name}"


def bind_params(df: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """``df`` with each suite parameter as a literal column, for expressions from ``param_columns``."""
    return df.select("*", *[F.lit(value).alias(_param_column(name)) for name, value in sorted(params.items())])


def param_columns(names: tuple[str, ...]) -> dict[str, Column]:
    """Parameters as references to the columns ``bind_params`` adds (the optimizer folds them back in)."""
    return {name: F.col(_param_column(name)) for name in names}


def route_by_rules(df: DataFrame, *, rules: list[Rule], params: Mapping[str, Any]) -> DataFrame:
    """Add ``reasons`` (parse defects + failed critical rules: the row goes to quarantine) and ``warnings``."""
    names = tuple(sorted(params))
    routed = bind_params(df, params).select("*", *_routing_columns(tuple(rules), names))
    return routed.drop(*[_param_column(name) for name in names])


@per_session
def _routing_columns(rules: tuple[Rule, ...], names: tuple[str, ...]) -> list[Column]:
    params = param_columns(names)
    critical = [rule for rule in rules if rule.severity == CRITICAL]
    warnings = [rule for rule in rules if rule.severity != CRITICAL]
    return [
        F.array_distinct(F.concat(F.col(schema.DEFECTS), _reasons(critical, params))).alias(schema.REASONS),
        _reasons(warnings, params).alias(schema.WARNINGS),
    ]
