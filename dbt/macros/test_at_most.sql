{#- Column value bounded above (inclusive); nulls are left to not_null_columns. -#}
{% test at_most(model, column_name, value) %}
select * from {{ model }} where {{ column_name }} > {{ value }}
{% endtest %}
