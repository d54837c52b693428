"""IVR: declarative YAML flows (`model`), opening hours (`hours`), the pure interpreter (`interpreter`),
the FastAGI server that runs them (`agi`, started by `service`), the per-call history (`tables`, `history`)
and a dry run for flow authors (`simulate`)."""
