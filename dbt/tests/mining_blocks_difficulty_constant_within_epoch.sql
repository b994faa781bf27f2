-- Difficulty only changes at a retarget (heights that are multiples of 2016): two difficulties within one
-- epoch mean blocks were mis-parsed or mixed from two chains, and fct_difficulty_adjustments (which reads
-- the change at the retarget block only) would miss or misstate an adjustment.
select epoch, count(distinct difficulty) as difficulties, min(height) as first_height, max(height) as last_height
from {{ ref('stg_mempool__blocks') }}
-- every epoch with a block on a day this run may have rewritten, whole (its other days included)
where epoch in (select epoch from {{ ref('stg_mempool__blocks') }} where {{ in_any_rewritten_day('date') }})
group by epoch
having count(distinct difficulty) > 1
