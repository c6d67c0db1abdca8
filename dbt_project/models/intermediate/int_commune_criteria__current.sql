-- Current assessment rows, one per commune, year, criteria set, criterion and indicator, each with
-- the set it belongs to: the tier code the file writes (ntm, nang_cao, kieu_mau) becomes the set in
-- force in the row's year; a set's id (any set the reference or a catalogue gives) is that set. A set
-- the lakehouse does not know stays as written, `criteria_set_known` false (listed, with the known
-- sets, by int_criteria__unknown_reported).
with

current_assessments as (
    {{ current_rows('stg_bronze__commune_criteria', 'commune_criteria',
                    ['rows.unit_key', 'rows.year', 'rows.criteria_set', 'rows.criterion_no', 'rows.indicator_code']) }}
),

renamed as (
    select {{ star_except(['criteria_set']) }}, criteria_set as criteria_set_reported
    from current_assessments
),

resolved as (
    select
        renamed.*,
        {{ set_in_force('renamed') }} as criteria_set,
        {{ set_known() }} as criteria_set_known
    from renamed
    {{ join_set_in_force('renamed') }}
),

final as (
    {{ one_per_resolved_key('resolved', 'commune_criteria') }}
)

select * from final
