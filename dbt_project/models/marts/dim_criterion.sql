-- Every criterion and indicator of every criteria set (reference files and catalogue files), with
-- its set's decision, in-force date, tier and size, what is assessed (`is_assessed`), the
-- lakehouse column that measures it, and its thresholds per commune group as one line of text.
with

items as (
    select * from {{ ref('int_criteria_catalogue__items') }}
),

sets as (
    select * from {{ ref('int_criteria_sets') }}
),

thresholds as (
    select
        criteria_set, criterion_no, indicator_code,
        {{ string_agg_ordered(
            "case commune_group when '' then 'chung/all' else commune_group end || ': '
            || coalesce(case comparison when 'at_least' then '≥ ' when 'at_most' then '≤ ' when 'equal' then '= '
                                        when 'yes_no' then 'Đạt/met' end
                        || coalesce(regexp_replace(cast(threshold as string), '[.]0$', ''), ''), threshold_text)",
            '; ', 'commune_group'
        ) }} as thresholds
    from {{ ref('int_criteria_catalogue__thresholds') }}
    group by all
),

final as (
    select
        {{ criterion_key('items') }},
        cast(items.criteria_set as string) as criteria_set,
        cast(sets.title_vi as string) as set_title_vi,
        cast(sets.title_en as string) as set_title_en,
        cast(sets.decision_no as string) as decision_no,
        cast(sets.in_force_from as date) as in_force_from,
        cast(sets.level as string) as set_level,
        cast(sets.tier as string) as set_tier,
        cast(sets.tier_code as string) as tier_code,
        cast(sets.criteria_total as integer) as set_criteria_total,
        cast(sets.indicator_total as integer) as set_indicator_total,
        cast(sets.completeness as string) as set_completeness,
        cast(items.criterion_no as string) as criterion_no,
        cast(items.indicator_code as string) as indicator_code,
        cast(items.criterion_name_vi as string) as criterion_name_vi,
        cast(items.indicator_name_vi as string) as indicator_name_vi,
        cast(items.name_en as string) as name_en,
        cast(items.unit as string) as unit,
        cast(items.measured_by as string) as measured_by,
        cast(thresholds.thresholds as string) as thresholds,
        cast(items.is_leaf as boolean) as is_assessed,
        cast(items.source as string) as source
    from items
    inner join sets on sets.criteria_set = items.criteria_set
    left join thresholds
        on thresholds.criteria_set = items.criteria_set and thresholds.criterion_no = items.criterion_no
        and thresholds.indicator_code = items.indicator_code
)

select * from final
order by criteria_set, try_cast(criterion_no as integer) nulls last, criterion_no, indicator_code
