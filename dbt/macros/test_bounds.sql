{#- A model's columns stay within their bounds (inclusive): one test (one dbt node, one Dagster check) for all of
    a model's bounded columns, named `bounds_<model>`, where an `at_least` or `at_most` per column was one node
    each (issue 17: 138 nodes, ~3 s of every dbt build on the project's 2-core machine). `columns` maps a column to
    `{at_least: v}`, `{at_most: v}` or both. A failing row is returned whole, with `broken_bounds` naming each
    bound it breaks (`strike < 0`). Nulls are left to not_null_columns, as at_least/at_most leave them. Scoped to the
    run's rewritten days like every generic test (test_scope.sql). A bound that is a guard of its own (a day with no
    exchange at all) keeps `at_least`, so its failure keeps its name. -#}
{% test bounds(model, columns) %}
{%- set checks = [] -%}
{%- for column, bound in columns.items() -%}
    {%- set unknown = bound.keys() | reject('in', ['at_least', 'at_most']) | list -%}
    {%- if unknown or not bound -%}
        {%- do exceptions.raise_compiler_error("bounds test on " ~ model ~ ": column " ~ column ~ " takes at_least "
            ~ "and/or at_most, got " ~ (bound | tojson)) -%}
    {%- endif -%}
    {%- for key, broken_by in [('at_least', ' < '), ('at_most', ' > ')] if key in bound -%}
        {%- do checks.append((adapter.quote(column) ~ broken_by ~ bound[key], column ~ broken_by ~ bound[key])) -%}
    {%- endfor -%}
{%- endfor %}
select
    concat_ws(', ', {% for condition, label in checks %}case when {{ condition }} then '{{ label }}' end
        {%- if not loop.last %}, {% endif %}{% endfor %}) as broken_bounds,
    *
from {{ model }}
where {% for condition, _ in checks %}{{ condition }}{% if not loop.last %} or {% endif %}{% endfor %}
{% endtest %}
