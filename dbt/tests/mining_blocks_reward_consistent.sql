-- Each block's coinbase reward must be its subsidy plus its fees, the subsidy at most the halving schedule's
-- at its height, and the block stamped in the day it is filed under: otherwise miner revenue, the fee share
-- and the hashprice are wrong for that day (and a block filed under two days would be paid twice).
select date, height, block_time, reward_sats, subsidy_sats, total_fees_sats
from {{ ref('stg_mempool__blocks') }}
where (reward_sats <> subsidy_sats + total_fees_sats
    or subsidy_sats > (5000000000 >> (height // 210000))
    or cast(block_time as date) <> date)
  and {{ in_any_rewritten_day('date') }}
