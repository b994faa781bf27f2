-- Two mempool.space datasets must agree on each retarget: the hash-rate dataset's difficulty at the end of
-- the retarget's day is the new difficulty the retarget block carries. A mismatch means the hash-rate parser
-- picked the wrong adjustment for a day (so fct_hashrate_daily's difficulty is wrong) or the blocks are off.
select a.height, a.date, a.difficulty as retarget_difficulty, h.difficulty as hashrate_day_difficulty
from {{ ref('fct_difficulty_adjustments') }} as a
join {{ ref('fct_hashrate_daily') }} as h on h.date = a.date
where abs(a.difficulty / h.difficulty - 1) > 1e-9
  and {{ in_any_rewritten_day('a.date') }}
