"""Call-list import: a CSV or XLSX file streamed into leads, scrubbed, deduplicated, with a report.

All or nothing: a file that turns out malformed half-way (binary, undecodable, cut off) imports nothing.
As an import job (`run_job`), that is the job's state: on SQLite each batch commits (one transaction for
the whole file held SQLite's only write lock for minutes, and every other write failed with "database is
locked"); the leads carry their job, are dialable only once it is done (`dialer.store.imported`), and are
deleted when it fails or is found interrupted at start-up (`recover_interrupted`). On PostgreSQL, whose
writers do not block each other, the data and the job's end are one transaction. A bad *line* is skipped
and recorded with its line number, kind (invalid, duplicate, dnc, no_consent) and reason in
`import_rejects`.

Memory stays bounded whatever the file size: rows are handled in batches; duplicates across batches
and DNC hits are found by indexed queries on what is already written (same transaction), not by
keeping the file in memory. Progress goes to the `ImportJob` row through a separate connection
(PostgreSQL; a poller sees it while the import runs) and to `LIVE` in this process (SQLite, whose single
writer is busy with the import).
"""

from dialer.list_import.files import check_file, open_table, preview
from dialer.list_import.importer import ListImporter
from dialer.list_import.jobs import (
    INTERRUPTED,
    create_job,
    import_file,
    job_view,
    recover_interrupted,
    run_job,
)
from dialer.list_import.options import (
    AUTO_MAPPING,
    LIVE,
    SPOOL_PREFIX,
    STANDARD_FIELDS,
    Counters,
    DedupeBy,
    DedupeScope,
    ImportOptions,
    MappingError,
    valid_target,
)
from dialer.list_import.report import report_head, report_rows

__all__ = [
    "AUTO_MAPPING",
    "INTERRUPTED",
    "LIVE",
    "SPOOL_PREFIX",
    "STANDARD_FIELDS",
    "Counters",
    "DedupeBy",
    "DedupeScope",
    "ImportOptions",
    "ListImporter",
    "MappingError",
    "check_file",
    "create_job",
    "import_file",
    "job_view",
    "open_table",
    "preview",
    "recover_interrupted",
    "report_head",
    "report_rows",
    "run_job",
    "valid_target",
]
