with

rows as (
    select * from {{ ref('int_satisfaction_surveys__current') }}
),

units as (
    select * from {{ ref('int_admin_units__on_current_map') }}
),

final as (
    select
        {{ unit_columns() }},
        cast(rows.period as string) as period,
        cast(rows.survey_name as string) as survey_name,
        cast(rows.online as boolean) as online,
        cast(case when rows.respondents < {{ var('small_cell_threshold', 5) }} then null else rows.respondents end as bigint) as respondents,
        cast(case when rows.respondents < {{ var('small_cell_threshold', 5) }} then null else rows.satisfied_pct end as double) as satisfied_pct,
        cast(rows.respondents < {{ var('small_cell_threshold', 5) }} as boolean) as suppressed,
        cast(rows.department as string) as department
    from rows
    left join units on units.unit_key = rows.unit_key
)

select * from final
order by unit_key, period, survey_name
