-- Tagged `today`: it reads the current date, so an incremental build rebuilds it on a new day;
-- and `ledger`: it reads the ledger for itself, so a rejected file (a ledger change alone) rebuilds it.
{{ config(tags=["today", "ledger"]) }}
-- How fresh each department's datasets are: for every department × dataset the program expects
-- (seed expected_updates), the last file that landed rows, its age on the day of the build (var
-- `as_of`, today by default) and its status with OCHA HDX's thresholds for the expected frequency
-- (seed freshness_thresholds): fresh, then due from `due_after_days` on, overdue from
-- `overdue_after_days`, delinquent from `delinquent_after_days` (HDX compares age >= threshold).
-- A dataset never received is delinquent, and says so.
{% set as_of = "cast('" ~ var("as_of") ~ "' as date)" if var("as_of", none) else "current_date" %}
with

expected as (
    select * from {{ ref('expected_updates') }}
),

thresholds as (
    select * from {{ ref('freshness_thresholds') }}
),

statuses as (
    select * from {{ ref('freshness_statuses') }}
),

supplied as (
    -- a file that landed rows, even if a later one replaced it; not a rejected file, nor a re-sent copy
    select department, dataset, max(received_at) as last_received, count(*) as files
    from {{ ref('stg_lakehouse__ledger') }}
    where status not in ('rejected', 'duplicate')
    group by all
),

aged as (
    select
        expected.department,
        expected.dataset,
        expected.frequency,
        supplied.last_received,
        coalesce(supplied.files, 0) as files,
        {{ as_of }} as as_of,
        {{ dbt.datediff('cast(supplied.last_received as date)', as_of, 'day') }} as age_days,
        thresholds.due_after_days,
        thresholds.overdue_after_days,
        thresholds.delinquent_after_days
    from expected
    left join supplied using (department, dataset)
    left join thresholds using (frequency)
),

final as (
    select
        cast(department as string) as department,
        cast(dataset as string) as dataset,
        cast(frequency as string) as frequency,
        cast(as_of as date) as as_of,
        {{ utc_time('last_received') }} as last_received,
        cast(files as bigint) as files_received,
        cast(age_days as integer) as age_days,
        cast(case
            when last_received is null then 'delinquent'
            when age_days >= delinquent_after_days then 'delinquent'
            when age_days >= overdue_after_days then 'overdue'
            when age_days >= due_after_days then 'due'
            else 'fresh' end as string) as status,
        cast(last_received is null as boolean) as never_received,
        cast(due_after_days as integer) as due_after_days,
        cast(overdue_after_days as integer) as overdue_after_days,
        cast(delinquent_after_days as integer) as delinquent_after_days
    from aged
)

select final.*, cast(statuses.label_vi as string) as status_vi, cast(statuses.label_en as string) as status_en
from final
left join statuses using (status)
order by department, dataset
