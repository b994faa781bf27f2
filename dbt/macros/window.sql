{#- The run's half-open partition window [min_date, max_date), as SQL date literals. -#}
{% macro window_start() -%} cast('{{ var("min_date") }}' as date) {%- endmacro %}
{% macro window_end() -%} cast('{{ var("max_date") }}' as date) {%- endmacro %}

{#- A predicate keeping rows of the window, optionally reaching back `lookback_days` for rolling figures. -#}
{% macro in_window(column, lookback_days=0) -%}
    ({{ column }} >= {{ window_start() }} - interval {{ lookback_days | int }} day and {{ column }} < {{ window_end() }})
{%- endmacro %}
