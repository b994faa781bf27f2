{#- Bitcoin's subsidy epochs: the subsidy halves every 210,000 blocks. Each row is an epoch, the UTC day its first
    block was mined (block 840,000 on 2024-04-20 00:09 UTC; the demo chain reaches it on the same day), its first
    height and the subsidy per block. A day belongs to the epoch whose start is the latest on or before it: the
    halving day itself counts as the new epoch's first day (on the real chain all but 9 minutes of it were).
    The next halving (block 1,050,000, expected in 2028) is added here when it has happened. -#}
{% macro halving_epochs() -%}
    (select * from (values
        (1, date '2009-01-03', 0, 50.0),
        (2, date '2012-11-28', 210000, 25.0),
        (3, date '2016-07-09', 420000, 12.5),
        (4, date '2020-05-11', 630000, 6.25),
        (5, date '2024-04-20', 840000, 3.125)
    ) as epochs(halving_epoch, epoch_start_date, epoch_first_height, subsidy_btc_per_block))
{%- endmacro %}

{#- The first day of the epoch holding the run's first day: marts whose figures are anchored to an epoch (its
    pre-halving average) rewrite from there on, so a rebuilt day reaches every day that depends on it. -#}
{% macro window_epoch_start() -%}
    (select max(epoch_start_date) from {{ halving_epochs() }} where epoch_start_date <= {{ window_start() }})
{%- endmacro %}
