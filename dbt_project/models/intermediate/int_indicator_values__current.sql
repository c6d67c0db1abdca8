-- Indicator values of the current (not superseded) files, each with the set it belongs to: a tier
-- code (ntm, nang_cao, kieu_mau) becomes the set in force in the row's year, a set's id is that set;
-- a set the lakehouse does not know stays as written, `criteria_set_known` false (listed, with the
-- known sets, by int_criteria__unknown_reported).
with

current_values as (
    {{ current_rows('stg_bronze__indicator_values', 'indicator_values',
                    ['rows.unit_key', 'rows.year', 'rows.criteria_set_reported', 'rows.criterion_no',
                     'rows.indicator_code']) }}
),

resolved as (
    select
        current_values.*,
        {{ set_in_force('current_values') }} as criteria_set,
        {{ set_known() }} as criteria_set_known
    from current_values
    {{ join_set_in_force('current_values') }}
),

final as (
    {{ one_per_resolved_key('resolved', 'indicator_values') }}
)

select * from final
