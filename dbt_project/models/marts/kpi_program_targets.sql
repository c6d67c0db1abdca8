-- Each target of a provincial plan (seed program_targets), for every year of the plan, next to
-- the value measured from the published facts for that province and year: whether the province
-- had already reached the level the plan sets for its target year. A target with nothing to
-- measure it yet keeps an empty actual value and an unknown result; `measure_vi/_en` say how
-- each actual value is measured, or why it is not.
with

targets as (
    select targets.*, plan_years.year
    from {{ ref('program_targets') }} as targets
    cross join lateral (select unnest(range(targets.plan_from_year, targets.target_year + 1)) as year) as plan_years
),

indicator_shares as (
    select
        units.province_key,
        criteria.year,
        case criteria.criteria_set || ':' || criteria.indicator_code
            when 'ntm:8.4' then 'communes_meeting_8_4_pct'
            when 'nang_cao:8.4' then 'communes_meeting_8_4_advanced_pct'
            when 'nang_cao:15.2' then 'communes_meeting_15_2_advanced_pct'
        end as target_code,
        round(100.0 * count(*) filter (where criteria.met) / count(*), 1) as actual_value,
        count(*) as measured_over
    from {{ ref('fact_commune_criteria') }} as criteria
    inner join {{ ref('dim_admin_unit') }} as units on units.unit_key = criteria.unit_key
    where criteria.criteria_set || ':' || criteria.indicator_code in ('ntm:8.4', 'nang_cao:8.4', 'nang_cao:15.2')
    group by all
),

online_shares as (
    select
        units.province_key,
        cast(left(services.period, 4) as integer) as year,
        case services.level when 'Xã' then 'work_records_online_commune_pct'
                            when 'Huyện' then 'work_records_online_district_pct'
                            when 'Tỉnh' then 'work_records_online_province_pct' end as target_code,
        round(100.0 * sum(services.applications_online) / nullif(sum(services.applications_received), 0), 1)
            as actual_value,
        sum(services.applications_received) as measured_over
    from {{ ref('fact_online_public_services') }} as services
    inner join {{ ref('dim_admin_unit') }} as units on units.unit_key = services.unit_key
    where services.source = 'records'
    group by all
),

communes as (
    select province_key, count(*) as communes
    from {{ ref('dim_admin_unit') }}
    where level = 'commune'
    group by all
),

cooperative_shares as (
    select
        units.province_key,
        coops.year,
        'communes_with_cooperatives_pct' as target_code,
        round(100.0 * count(distinct coops.unit_key) / any_value(communes.communes), 1) as actual_value,
        any_value(communes.communes) as measured_over
    from {{ ref('fact_cooperatives') }} as coops
    inner join {{ ref('dim_admin_unit') }} as units on units.unit_key = coops.unit_key
    inner join communes on communes.province_key = units.province_key
    group by all
),

survey_shares as (
    select
        units.province_key,
        cast(left(surveys.period, 4) as integer) as year,
        'units_with_essential_service_and_survey_pct' as target_code,
        round(100.0 * count(distinct surveys.unit_key) filter (where surveys.online)
              / any_value(communes.communes), 1) as actual_value,
        any_value(communes.communes) as measured_over
    from {{ ref('fact_satisfaction_surveys') }} as surveys
    inner join {{ ref('dim_admin_unit') }} as units on units.unit_key = surveys.unit_key
    inner join communes on communes.province_key = units.province_key
    group by all
),

actuals as (
    select * from indicator_shares
    union all by name select * from online_shares
    union all by name select * from cooperative_shares
    union all by name select * from survey_shares
),

provinces as (
    select unit_key, unit_code, unit_name from {{ ref('dim_admin_unit') }} where level = 'province'
),

final as (
    select
        cast(targets.plan as varchar) as plan,
        cast(targets.plan_date as date) as plan_date,
        cast(targets.province_unit_key as varchar) as province_unit_key,
        cast(provinces.unit_code as varchar) as province_code,
        cast(provinces.unit_name as varchar) as province_name,
        cast(targets.year as integer) as year,
        cast(targets.target_year as integer) as target_year,
        cast(targets.target_code as varchar) as target_code,
        cast(targets.description_vi as varchar) as description_vi,
        cast(targets.description_en as varchar) as description_en,
        cast(targets.unit as varchar) as unit,
        cast(targets.target_value as double) as target_value,
        cast(actuals.actual_value as double) as actual_value,
        cast(actuals.measured_over as bigint) as measured_over,
        cast(targets.measure_vi as varchar) as measure_vi,
        cast(targets.measure_en as varchar) as measure_en,
        cast(case when actuals.actual_value is null then null
                  when targets.comparison = 'at_most' then actuals.actual_value <= targets.target_value
                  else actuals.actual_value >= targets.target_value end as boolean) as met
    from targets
    left join actuals
        on actuals.province_key = targets.province_unit_key
        and actuals.year = targets.year
        and actuals.target_code = targets.target_code
    left join provinces on provinces.unit_key = targets.province_unit_key
)

select * from final
order by plan, province_unit_key, year, target_code
