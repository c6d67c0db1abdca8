{{ current_rows('stg_bronze__satisfaction_surveys', 'satisfaction_surveys',
                ['rows.unit_key', 'rows.period', 'rows.survey_name']) }}
