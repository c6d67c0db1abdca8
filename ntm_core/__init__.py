"""The shared core every stage stands on: settings, logging, Vietnamese text keys, the official
administrative units and the department registry. It imports no stage (ingest, expectations,
publish) and nothing from the pipeline on top of them (ntm)."""
