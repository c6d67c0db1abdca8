-- Applications per receiving unit, month and level: counts only, no personal data.
with

applications as (
    select * from {{ ref('int_public_service_records__current') }}
),

monthly as (
    select
        unit_key,
        strftime(received_date, '%Y-%m') as period,
        coalesce(level, 'all') as level,
        count(*) as applications_received,
        count(*) filter (where channel = 'Trực tuyến') as applications_online,
        count(*) filter (where resolved_date is not null) as applications_resolved,
        count(*) filter (where resolved_date is not null and resolved_date <= due_date) as applications_resolved_on_time
    from applications
    group by all
)

select * from monthly
