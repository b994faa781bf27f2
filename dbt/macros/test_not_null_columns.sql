{#- The listed columns are never null: one test (one dbt node, one Dagster check) for all of a model's non-null
    columns, where a `not_null` per column was one node each (issue 17: ~20 ms of every run per node, 246 nodes). A
    failing row is returned whole, with `null_columns` naming which of the listed columns are null in it. Scoped to
    the run's rewritten days like every generic test (test_scope.sql); columns that need a `where` or a severity of
    their own keep dbt's not_null. -#}
{% test not_null_columns(model, columns) %}
select
    concat_ws(', ', {% for column in columns %}case when {{ adapter.quote(column) }} is null then '{{ column }}' end
        {%- if not loop.last %}, {% endif %}{% endfor %}) as null_columns,
    *
from {{ model }}
where {% for column in columns %}{{ adapter.quote(column) }} is null{% if not loop.last %} or {% endif %}{% endfor %}
{% endtest %}
