{#- Rows reconcile across the stages, per day of the run's window that raw.load_log marks loaded:
    rows landed (parsed from the archived body) = rows loaded + rows quarantined, and
    rows loaded = rows in the raw table = rows in this staging model.
    A mismatch means rows were lost or duplicated between stages (a staging filter or join that drops or fans
    out rows, a raw partition written outside the loader): one failing row per day, with every count. -#}
{% test rows_reconcile_with_load_log(model, raw, dataset, date_column='date') %}

with logged as (
    select partition_date as date, rows_landed, rows_loaded, rows_quarantined
    from {{ source('raw', 'load_log') }}
    where dataset = '{{ dataset }}' and status = 'loaded' and {{ in_window('partition_date') }}
),

raw_rows as (
    select partition_date as date, count(*) as rows_raw
    from {{ raw }}
    where {{ in_window('partition_date') }}
    group by all
),

staged as (
    select {{ date_column }} as date, count(*) as rows_staged
    from {{ model }}
    where {{ in_window(date_column) }}
    group by all
),

compared as (
    select
        logged.date,
        logged.rows_landed,
        logged.rows_loaded,
        logged.rows_quarantined,
        coalesce(raw_rows.rows_raw, 0) as rows_raw,
        coalesce(staged.rows_staged, 0) as rows_staged
    from logged
    left join raw_rows on raw_rows.date = logged.date
    left join staged on staged.date = logged.date
)

select *
from compared
where rows_landed <> rows_loaded + rows_quarantined
   or rows_raw <> rows_loaded
   or rows_staged <> rows_loaded

{% endtest %}
