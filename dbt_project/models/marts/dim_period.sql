-- Every reporting period a fact can refer to, as the ingest writes them: years (2023), half-years
-- (2024-H1), quarters (2024-Q1) and months (2024-01), from 2015 to 2035.
with

years as (
    select year from {{ integer_range(2015, 2036, 'year') }}
),

periods as (
    select cast(year as string) as period_key, 'year' as period_type, year, 12 as months,
           make_date(year, 1, 1) as start_date,
           'Năm ' || year as label_vi, 'Year ' || year as label_en
    from years
    union all
    select year || '-H' || h, 'half_year', year, 6, make_date(year, 6 * h - 5, 1),
           '6 tháng ' || (case h when 1 then 'đầu' else 'cuối' end) || ' năm ' || year,
           (case h when 1 then 'First' else 'Second' end) || ' half of ' || year
    from years, {{ integer_range(1, 3, 'h') }}
    union all
    select year || '-Q' || q, 'quarter', year, 3, make_date(year, 3 * q - 2, 1),
           'Quý ' || (case q when 1 then 'I' when 2 then 'II' when 3 then 'III' else 'IV' end) || '/' || year, 'Q' || q || ' ' || year
    from years, {{ integer_range(1, 5, 'q') }}
    union all
    select year || '-' || lpad(cast(m as string), 2, '0'), 'month', year, 1, make_date(year, m, 1),
           'Tháng ' || lpad(cast(m as string), 2, '0') || '/' || year, {{ format_date('make_date(year, m, 1)', '%B %Y') }}
    from years, {{ integer_range(1, 13, 'm') }}
)

select
    cast(period_key as string) as period_key,
    cast(period_type as string) as period_type,
    cast(year as integer) as year,
    cast(start_date as date) as start_date,
    cast({{ add_months('start_date', 'months') }} - interval 1 day as date) as end_date,
    cast(label_vi as string) as label_vi,
    cast(label_en as string) as label_en
from periods
order by start_date, months desc
