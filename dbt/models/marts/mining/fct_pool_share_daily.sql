{{ config(unique_key=['date', 'pool']) }}

with blocks as (
    select date, height, pool_name, pool_slug
    from {{ ref('stg_mempool__blocks') }}
    where {{ in_window('date') }}
),

per_pool as (
    select
        date,
        pool_name as pool,
        -- mempool maps one slug to one name; max() only keeps the group by on the key.
        max(pool_slug) as pool_slug,
        count(*) as blocks
    from blocks
    group by date, pool_name
),

shares as (
    select
        *,
        sum(blocks) over (partition by date) as day_blocks,
        blocks * 100.0 / sum(blocks) over (partition by date) as share_pct,
        rank() over (partition by date order by blocks desc) as pool_rank
    from per_pool
),

final as (
    select
        cast(date as date) as date,
        cast(pool as varchar) as pool,
        cast(pool_slug as varchar) as pool_slug,
        cast(blocks as integer) as blocks,
        cast(day_blocks as integer) as day_blocks,
        cast(share_pct as double) as share_pct,
        cast(pool_rank as integer) as pool_rank
    from shares
)

select * from final
