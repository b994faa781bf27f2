-- Every instrument name must parse into expiry, strike and type, and name its chain's currency; a miss would
-- silently drop open interest from the gamma exposure.
select *
from {{ ref('stg_deribit__option_book_summary') }}
where (expiry_date is null or strike is null or option_type is null)
  and {{ in_any_rewritten_day('snapshot_date') }}
