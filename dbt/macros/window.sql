{#- The run's half-open partition window [min_date, max_date), as SQL date literals.

    Where a bound comes from, first found wins:
    1. the var `min_date` / `max_date`: a unit test's `overrides: vars`, or `--vars` on a hand-typed command line;
    2. the environment, BTCW_DBT_MIN_DATE / BTCW_DBT_MAX_DATE: how Dagster passes each run's window
       (pipelines/dbt_project.py);
    3. the default: everything, for a plain `dbt build`.
    Why not always --vars: any change of --vars makes dbt drop its partial parse and re-parse the whole project
    (~15 s where a partial parse takes ~7 s), and the window changes on every run. The environment is read only
    while executing (`execute`), never while parsing: an env_var() seen at parse time would be recorded in the
    manifest and a new value would again schedule the files that read it for re-parsing. Parsing only needs the
    SQL's shape (refs, configs), which the default bound gives. -#}
{% macro window_bound(name, env_name, everything) -%}
    {%- set given = var(name, none) -%}
    {%- if given is not none -%}{{ iso_date(given, "var " ~ name) }}
    {%- elif execute -%}{{ iso_date(env_var(env_name, everything), env_name) }}
    {%- else -%}{{ everything }}
    {%- endif -%}
{%- endmacro %}

{#- `value` as text when it is a date written YYYY-MM-DD, else a compiler error naming `source` and the value: a
    bound is pasted into the SQL between quotes, so anything else (a quote, a comment) must never reach it. -#}
{% macro iso_date(value, source) -%}
    {%- set text = value | string -%}
    {%- if not modules.re.fullmatch("[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", text) -%}
        {{ exceptions.raise_compiler_error(source ~ "='" ~ text ~ "' is not a date (YYYY-MM-DD): the run's window bound is refused before it reaches SQL") }}
    {%- endif -%}
    {{ text }}
{%- endmacro %}
{% macro window_start() -%} cast('{{ window_bound("min_date", "BTCW_DBT_MIN_DATE", "2009-01-03") }}' as date) {%- endmacro %}
{% macro window_end() -%} cast('{{ window_bound("max_date", "BTCW_DBT_MAX_DATE", "2100-01-01") }}' as date) {%- endmacro %}

{#- A predicate keeping rows of the window, optionally reaching back `lookback_days` for rolling figures. -#}
{% macro in_window(column, lookback_days=0) -%}
    ({{ column }} >= {{ window_start() }} - interval {{ lookback_days | int }} day and {{ column }} < {{ window_end() }})
{%- endmacro %}

{#- The days a run rewrites: its window, plus the `lookahead_days` after it whose rolling figures include a day
    of the window. Rebuilding day D changes the 7-day average of D..D+6, so a model with a trailing window of
    W days rewrites [min_date, max_date + W - 1): any backfill order then ends in the same table. -#}
{% macro in_rebuild_window(column, lookahead_days=0) -%}
    ({{ column }} >= {{ window_start() }} and {{ column }} < {{ window_end() }} + interval {{ lookahead_days | int }} day)
{%- endmacro %}

{#- Every day some mart may rewrite in this run: one day before the window (fct_derivatives_daily's end-of-day open
    interest comes from the next day's row) to `rolling_lookahead_days` after it (the 365-day hash-rate peak).
    A mart that joins the others (mart_market_daily) rewrites this whole span. -#}
{% macro in_any_rewritten_day(column) -%}
    ({{ in_window(column, lookback_days=1) }} or {{ in_rebuild_window(column, var('rolling_lookahead_days')) }})
{%- endmacro %}
