{#- Column value bounded below (inclusive); nulls are left to not_null_columns. -#}
{% test at_least(model, column_name, value) %}
select * from {{ model }} where {{ column_name }} < {{ value }}
{% endtest %}
