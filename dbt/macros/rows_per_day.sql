{#- A model's rows on each day of the run's window, logged for Dagster: pipelines/assets/dbt_models.py gives each
    day's materialization its own row count from this line, as the model finishes (dbt holds the warehouse's only
    write connection until it exits, so Dagster cannot count them itself before then). A post-hook of every model
    (dbt_project.yml). Only in a run given its window through the environment (Dagster's, pipelines/dbt_project.py),
    never in a hand-typed `dbt build`; read while executing only, like the window itself (macros/window.sql).
    A model without a `date` or `snapshot_date` column logs nothing. -#}
{% macro log_rows_per_day() %}
    {%- if execute and env_var("BTCW_DBT_MIN_DATE", "") != "" -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute="name") | list -%}
        {%- set day = "snapshot_date" if "snapshot_date" in columns else ("date" if "date" in columns else none) -%}
        {%- if day is not none -%}
            {%- set counted = run_query(
                "select cast(" ~ adapter.quote(day) ~ " as varchar), count(*) from " ~ this
                ~ " where " ~ adapter.quote(day) ~ " >= " ~ window_start()
                ~ " and " ~ adapter.quote(day) ~ " < " ~ window_end() ~ " group by 1 order by 1") -%}
            {%- set rows = {} -%}
            {%- for row in counted.rows -%}{%- do rows.update({row[0]: row[1] | int}) -%}{%- endfor -%}
            {%- do log("btcw_rows_per_day " ~ tojson({"column": day, "rows": rows}), info=True) -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
