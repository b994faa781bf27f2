{#- Cross-source reconciliation: on each day of the run's window where both sources have a row, the model's
    `column_name` must be within `tolerance` (relative) of the reference `to`.`field`. One failing row per day
    off, with both values and the relative difference, so the day is visible in the stored failures.

    The difference is relative to the reference (`to`), written as |value - reference| <= tolerance x |reference|
    rather than a ratio, so a zero reference fails instead of dividing into a null that would pass.
    Days present in only one source are not this test's business (the volume and freshness checks own gaps);
    null values are left to not_null_columns. Only days in [min_date, max_date) are compared: a run answers for the days
    it loaded, and an old disagreement, already reported, must not block every later run. -#}
{% test reconciles_with(model, column_name, to, field, tolerance, date_column='date', to_date_column='date') %}

with ours as (
    select {{ date_column }} as date, {{ column_name }} as value
    from {{ model }}
    where {{ in_window(date_column) }}
),

reference as (
    select {{ to_date_column }} as date, {{ field }} as reference
    from {{ to }}
    where {{ in_window(to_date_column) }}
),

compared as (
    select
        o.date,
        o.value,
        r.reference,
        abs(o.value - r.reference) / nullif(abs(r.reference), 0) as relative_difference,
        cast({{ tolerance }} as double) as tolerance,
        abs(o.value - r.reference) <= cast({{ tolerance }} as double) * abs(r.reference) as within_tolerance
    from ours as o
    join reference as r on r.date = o.date
    where o.value is not null and r.reference is not null
)

select date, value, reference, relative_difference, tolerance
from compared
where not within_tolerance

{% endtest %}
