{#- The run's half-open partition window [min_date, max_date), as SQL date literals. -#}
{% macro window_start() -%} cast('{{ var("min_date") }}' as date) {%- endmacro %}
{% macro window_end() -%} cast('{{ var("max_date") }}' as date) {%- endmacro %}

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
