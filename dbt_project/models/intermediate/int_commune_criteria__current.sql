-- Current assessment rows, one per commune, year, criteria set, criterion and indicator, each with
-- the set it belongs to: the tier code the file writes (ntm, nang_cao, kieu_mau) becomes the set in
-- force in the row's year.
with

current_assessments as (
    {{ current_rows('stg_bronze__commune_criteria', 'commune_criteria',
                    ['rows.unit_key', 'rows.year', 'rows.criteria_set', 'rows.criterion_no', 'rows.indicator_code']) }}
),

renamed as (
    select {{ star_except(['criteria_set']) }}, criteria_set as criteria_set_reported
    from current_assessments
)

select renamed.*, {{ set_in_force('renamed') }} as criteria_set
from renamed
{{ join_set_in_force('renamed') }}
