-- Both marts count the same day's blocks (built from stg_mempool__blocks in separate incremental runs):
-- a day whose pool-share block count differs from the revenue mart's means one of them was rebuilt from a
-- different load of the day, and hashprice and pool shares would describe different blocks.
select r.date, r.blocks as revenue_blocks, p.blocks as pool_blocks
from (select * from {{ ref('fct_miner_revenue_daily') }} where {{ in_any_rewritten_day('date') }}) as r
full join (
    select date, sum(blocks) as blocks from {{ ref('fct_pool_share_daily') }} where {{ in_any_rewritten_day('date') }} group by date
) as p on p.date = r.date
where r.blocks is distinct from p.blocks
