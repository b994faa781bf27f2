-- The pools of a day must share all of its blocks: shares summing to other than 100% (beyond float rounding)
-- mean a pool was dropped or counted twice, and a dashboard stacking shares would show a gap or overflow.
-- It also checks each row's day_blocks against the blocks actually counted for the day.
select date, sum(share_pct) as total_share_pct, sum(blocks) as blocks, max(day_blocks) as day_blocks
from {{ ref('fct_pool_share_daily') }}
where {{ in_any_rewritten_day('date') }}
group by date
having abs(sum(share_pct) - 100) > 1e-6 or sum(blocks) <> max(day_blocks) or min(day_blocks) <> max(day_blocks)
