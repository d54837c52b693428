"""The foundation: database, models registry, bus, settings, audit, tabular reading, write chain, errors."""
