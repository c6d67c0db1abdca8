-- Every province present in the marts, each year it has data, against the programme targets that
-- apply to it: the national targets (924/QĐ-TTg, 263/QĐ-TTg), the regional targets of 263/QĐ-TTg
-- for its region (the region its communes are judged in, from the commune_groups files) and its
-- own plan's targets. Each row carries the value measured from the marts where a measure answers
-- the target (seed target_measures), over how many units, how it was measured, and whether the
-- level the target sets is reached. A target nothing measures yet keeps an empty value and an
-- unknown result; "eq", "approx" and "range" targets count as reached at their (lower) value.
{% set facts = {'fact_commune_scorecard': 'year', 'fact_digital_infrastructure': 'year',
                'fact_cooperatives': 'year', 'fact_community_digital_teams': 'year',
                'fact_ocop_products': 'year', 'fact_growing_area_codes': 'year',
                'fact_online_public_services': 'cast(left(period, 4) as integer)',
                'fact_satisfaction_surveys': 'cast(left(period, 4) as integer)'} %}
with

province_years as (
    {% for fact, year in facts.items() %}
    select distinct {{ province_key() }} as province_key, {{ year }} as year
    from {{ ref(fact) }}
    where province_code is not null
    {% if not loop.last %}union{% endif %}
    {% endfor %}
),

provinces as (
    select unit_key, unit_code, unit_name, short_name from {{ ref('dim_admin_unit') }} where level = 'province'
),

region_communes as (
    select split_part(groups.unit_key, ':', 1) || ':province:' || units.province_code as province_key,
           groups.commune_group as region_code, count(*) as communes
    from {{ ref('int_commune_groups__current') }} as groups
    inner join {{ ref('int_admin_units__on_current_map') }} as units on units.unit_key = groups.unit_key
    where groups.commune_group in (select code from {{ ref('commune_groups') }} where scheme = 'region')
    group by all
),

regions as (
    -- a province's region: the one most of its communes are judged in (a difficult commune judged by
    -- the Northern Midlands and Mountains thresholds does not move its province); on a tie, the
    -- first code, so that every engine picks the same
    select province_key, region_code
    from region_communes
    qualify row_number() over (partition by province_key order by communes desc, region_code) = 1
),

targets as (
    select * from {{ ref('stg_reference__program_targets') }}
),

applicable as (
    select
        province_years.province_key, province_years.year, regions.region_code,
        {{ star_except(['region_code'], 'targets') }},
        case when targets.province is not null then 'province'
             when targets.region_code is not null then 'region' else 'national' end as scope
    from province_years
    inner join provinces on provinces.unit_key = province_years.province_key
    left join regions on regions.province_key = province_years.province_key
    inner join targets
        on (targets.province is null and targets.region_code is null)
        or (targets.province is null and targets.region_code = regions.region_code)
        or (targets.level = 'province' and targets.province = provinces.short_name)
),

assessed as (
    select *, {{ province_key() }} as province_key
    from {{ ref('fact_commune_assessment') }}
),

scorecards as (
    select *, {{ province_key() }} as province_key
    from {{ ref('fact_commune_scorecard') }}
),

indicator_shares as (
    select province_key, year, 'indicator_met_share:' || criteria_set || ':' || indicator_code as measure,
           round(100.0 * count(*) filter (where status = 'met') / count(*), 1) as actual_value,
           count(*) as measured_over
    from assessed
    where status in ('met', 'not_met') and indicator_code <> ''
    group by all
),

standard_shares as (
    select province_key, year, 'standard_met_share:' || criteria_set as measure,
           round(100.0 * count(*) filter (where recognised_level <> 'none') / count(*), 1) as actual_value,
           count(*) as measured_over
    from scorecards
    group by all
),

fewest_criteria as (
    select province_key, year, 'min_criteria_met:' || criteria_set as measure,
           cast(min(criteria_met) as double) as actual_value, count(*) as measured_over
    from scorecards
    group by all
),

online_shares as (
    select
        {{ province_key('services') }} as province_key,
        cast(left(services.period, 4) as integer) as year,
        'online_share:' || case services.level when 'Xã' then 'commune' when 'Huyện' then 'district'
                                                when 'Tỉnh' then 'province' end as measure,
        round(100.0 * sum(services.applications_online) / nullif(sum(services.applications_received), 0), 1)
            as actual_value,
        sum(services.applications_received) as measured_over
    from {{ ref('fact_online_public_services') }} as services
    where services.source = 'records' and services.level in ('Xã', 'Huyện', 'Tỉnh')
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
        {{ province_key('coops') }} as province_key,
        coops.year,
        'cooperative_communes_share' as measure,
        round(100.0 * count(distinct coops.unit_key) / any_value(communes.communes), 1) as actual_value,
        any_value(communes.communes) as measured_over
    from {{ ref('fact_cooperatives') }} as coops
    inner join communes on communes.province_key = {{ province_key('coops') }}
    group by all
),

survey_shares as (
    select
        {{ province_key('surveys') }} as province_key,
        cast(left(surveys.period, 4) as integer) as year,
        'essential_service_survey_share' as measure,
        round(100.0 * count(distinct surveys.unit_key) filter (where surveys.online)
              / any_value(communes.communes), 1) as actual_value,
        any_value(communes.communes) as measured_over
    from {{ ref('fact_satisfaction_surveys') }} as surveys
    inner join communes on communes.province_key = {{ province_key('surveys') }}
    group by all
),

actuals as (
    {{ union_all_by_name(['indicator_shares', 'standard_shares', 'fewest_criteria', 'online_shares',
                          'cooperative_shares', 'survey_shares'],
                         ['province_key', 'year', 'measure', 'actual_value', 'measured_over']) }}
),

methods as (
    select * from {{ ref('measures') }}
),

final as (
    select
        cast(applicable.province_key as string) as province_unit_key,
        cast(provinces.unit_code as string) as province_code,
        cast(provinces.unit_name as string) as province_name,
        cast(applicable.region_code as string) as region_code,
        cast(applicable.year as integer) as year,
        cast(applicable.target_code as string) as target_code,
        cast(applicable.scope as string) as scope,
        cast(applicable.plan as string) as plan,
        cast(applicable.plan_date as date) as plan_date,
        cast(applicable.target_year as integer) as target_year,
        cast(applicable.description_vi as string) as description_vi,
        cast(applicable.description_en as string) as description_en,
        cast(applicable.unit as string) as unit,
        cast(applicable.comparator as string) as comparator,
        cast(applicable.target_text as string) as target_text,
        cast(applicable.target_value as double) as target_value,
        cast(applicable.measure as string) as measure,
        cast(actuals.actual_value as double) as actual_value,
        cast(actuals.measured_over as bigint) as measured_over,
        cast(coalesce(methods.method_vi, 'Chưa đo được: chưa có bộ dữ liệu nào trong hồ dữ liệu đo chỉ tiêu này')
             as string) as method_vi,
        cast(coalesce(methods.method_en, 'Not measured: no dataset in the lakehouse measures this target yet')
             as string) as method_en,
        cast(case when actuals.actual_value is null or applicable.target_value is null then null
                  else actuals.actual_value >= applicable.target_value end as boolean) as met
    from applicable
    inner join provinces on provinces.unit_key = applicable.province_key
    left join actuals
        on actuals.province_key = applicable.province_key
        and actuals.year = applicable.year
        and actuals.measure = applicable.measure
    left join methods on methods.measure = applicable.measure
)

select * from final
order by province_unit_key, year, target_code
