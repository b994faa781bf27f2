{#- The newest load of each key of a raw table. Raw already holds one row per key (each partition is replaced
    atomically); this guards staging against a table loaded outside the pipeline. -#}
{% macro deduplicate_latest(relation, key_columns) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ key_columns | join(', ') }} order by _loaded_at desc) = 1
{%- endmacro %}
