-- Applications per receiving unit, month and level: counts only, no personal data. Incremental
-- like the records it counts: only the months rebuilt there are counted again (those it loaded
-- since, and those this very build rebuilt there, as when a file stops counting and nothing new
-- was ingested), and a month emptied there is removed here.
{{ config(
    materialized=lake_materialization(),
    incremental_strategy='delete+insert',
    unique_key='period',
    post_hook="{{ drop_emptied_months('int_public_service_records__current') }}",
) }}

with

applications as (
    select * from {{ ref('int_public_service_records__current') }}
    {% if is_incremental() %}
    where period in (
        select distinct period from {{ ref('int_public_service_records__current') }}
        where loaded_through > coalesce((select max(loaded_through) from {{ this }}), cast('1970-01-01' as {{ type_instant() }}))
           or built_at = cast('{{ run_started_at }}' as {{ type_instant() }})
    )
    {% endif %}
),

monthly as (
    select
        unit_key,
        period,
        coalesce(level, 'all') as level,
        count(*) as applications_received,
        count(*) filter (where channel = 'Trực tuyến') as applications_online,
        count(*) filter (where resolved_date is not null) as applications_resolved,
        count(*) filter (where resolved_date is not null and resolved_date <= due_date) as applications_resolved_on_time,
        max(loaded_through) as loaded_through
    from applications
    group by all
)

select * from monthly
