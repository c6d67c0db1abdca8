-- Every current row of a commune_criteria or indicator_values file that names a criteria set, or a
-- criterion or indicator of a set, that the lakehouse does not know, with what it does know: the
-- sets of the reference files and of the catalogues received (a tier code ntm, nang_cao, kieu_mau
-- stands for the set in force in the row's year), or the criteria and indicators its set lists.
-- Such rows are not assessed; they are not dropped either: fact_commune_criteria keeps its own with
-- this reason, the validation report lists them, and `dbt build` warns (test `is_empty`).
with

written as (
    select
        'commune_criteria' as dataset, unit_key, year, criteria_set_reported, criteria_set, criteria_set_known,
        criterion_no, coalesce(indicator_code, '') as indicator_code, department, source_file
    from {{ ref('int_commune_criteria__current') }}
    union all
    select
        'indicator_values', unit_key, year, criteria_set_reported, criteria_set, criteria_set_known,
        criterion_no, indicator_code, department, source_file
    from {{ ref('int_indicator_values__current') }}
),

items as (
    select criteria_set, criterion_no, indicator_code from {{ ref('int_criteria_catalogue__items') }}
),

known_sets as (
    select {{ string_agg_ordered('criteria_set', ', ', 'criteria_set') }} as known_sets
    from {{ ref('int_criteria_sets') }}
),

tier_codes as (
    select tier_code from {{ ref('criteria_tiers') }}
),

tier_list as (
    select {{ string_agg_ordered('tier_code', ', ', 'tier_code') }} as tier_codes from tier_codes
),

set_items as (
    select
        criteria_set,
        {{ string_agg_ordered("case when indicator_code = '' then criterion_no else indicator_code end", ', ',
                              "try_cast(criterion_no as integer) nulls last, criterion_no, indicator_code") }}
            as known_items
    from items
    group by all
),

unknown as (
    select
        written.*,
        case when not written.criteria_set_known then 'set' else 'item' end as unknown_kind,
        case when written.indicator_code = '' then written.criterion_no else written.indicator_code end as item
    from written
    left join items
        on items.criteria_set = written.criteria_set and items.criterion_no = written.criterion_no
        and items.indicator_code = written.indicator_code
    where not written.criteria_set_known or items.criteria_set is null
),

final as (
    select
        unknown.dataset,
        unknown.unit_key,
        unknown.year,
        unknown.criteria_set_reported,
        unknown.criteria_set,
        unknown.criterion_no,
        unknown.indicator_code,
        unknown.unknown_kind,
        case
            when unknown.unknown_kind = 'item' then
                'tiêu chí/chỉ tiêu ' || unknown.item || ' không có trong bộ ' || unknown.criteria_set
                || '; bộ này gồm: ' || coalesce(set_items.known_items, '-')
                || ' / criterion or indicator ' || unknown.item || ' is not in set ' || unknown.criteria_set
                || '; the set lists: ' || coalesce(set_items.known_items, '-')
            when tier_codes.tier_code is not null then
                'không có bộ tiêu chí ' || unknown.criteria_set_reported || ' có hiệu lực năm '
                || cast(unknown.year as string) || '; các bộ đã biết: ' || known_sets.known_sets
                || ' / no ' || unknown.criteria_set_reported || ' criteria set is in force in '
                || cast(unknown.year as string) || '; the known sets: ' || known_sets.known_sets
            else
                'bộ tiêu chí ' || unknown.criteria_set_reported || ' không có trong danh mục; các bộ đã biết: '
                || known_sets.known_sets || ' (hoặc ' || tier_list.tier_codes || ')'
                || ' / criteria set ' || unknown.criteria_set_reported || ' is not known; the known sets: '
                || known_sets.known_sets || ' (or ' || tier_list.tier_codes || ')'
        end as unknown_reason,
        unknown.department,
        unknown.source_file
    from unknown
    cross join known_sets
    cross join tier_list
    left join tier_codes on tier_codes.tier_code = lower(trim(unknown.criteria_set_reported))
    left join set_items on set_items.criteria_set = unknown.criteria_set
)

select * from final
