-- Current assessment rows, one per commune, year, criteria set, criterion and indicator.
{{ current_rows('stg_bronze__commune_criteria', 'commune_criteria',
                ['rows.unit_key', 'rows.year', 'rows.criteria_set', 'rows.criterion_no', 'rows.indicator_code']) }}
