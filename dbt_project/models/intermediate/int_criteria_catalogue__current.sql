-- Catalogue rows of the current (not superseded) files, one per set, criterion, indicator and group.
{{ current_rows('stg_bronze__criteria_catalogue', 'criteria_catalogue',
                ['rows.criteria_set', 'rows.criterion_no', 'rows.indicator_code', 'rows.commune_group']) }}
