-- Indicator values of the current (not superseded) files, each with the set it belongs to: a tier
-- code (ntm, nang_cao, kieu_mau) becomes the set in force in the row's year.
with

current_values as (
    {{ current_rows('stg_bronze__indicator_values', 'indicator_values',
                    ['rows.unit_key', 'rows.year', 'rows.criteria_set_reported', 'rows.criterion_no',
                     'rows.indicator_code']) }}
)

select current_values.*, {{ set_in_force('current_values') }} as criteria_set
from current_values
{{ join_set_in_force('current_values') }}
