"""Customer CSV import, as Excel writes it in France: `;`, cp1252 or UTF-8 with BOM, French headers.

Read as a stream in batches, all or nothing: a file that turns out malformed half-way (undecodable,
binary, ragged rows) imports nothing, so a failed import never leaves half a file behind. A bad *line*
(no name, unusable number) is reported with its line number and skipped; `all_or_nothing` turns any
rejected line into a failed import.

On PostgreSQL, whose writers do not block each other, the import is one transaction. On SQLite each batch
(of SQLITE_BATCH lines) commits, as the call-list import's do (one transaction held SQLite's only write
lock for the whole file, and the server's writes failed with "database is locked" meanwhile), and leaves
the lock free for LOCK_GAP_S before the next one; the audit log then holds the import's state
(`customers_import_started`, one `customers_import_batch` per commit naming its contacts and new accounts,
and `customers_imported` or `customers_import_failed`, all with the import's id as target). A failed import
deletes the batches it committed before it reads failed; one whose process died (kill -9, power) is
found by the next customer import, which deletes its batches first and writes it failed ("interrupted").

Optional care columns mark customers lost (the loss rate): `Statut` (actif/active, perdu/lost), `Date de
perte` (dd/mm/yyyy or yyyy-mm-dd, the centre's local day; default: the import's time) and `Motif de perte`
(required for a lost customer). A line with a company marks the account lost (the account is the
customer); an `actif` line changes nothing that exists (an account comes back from its page).
"""

from app.customer_import.columns import BATCH, SQLITE_BATCH, ImportReport, loss_date
from app.customer_import.importer import CustomerImporter, import_customers
from app.customer_import.undo import INTERRUPTED, recover_interrupted, undo_import
from core.tabular import MalformedFile

__all__ = [
    "BATCH",
    "INTERRUPTED",
    "SQLITE_BATCH",
    "CustomerImporter",
    "ImportReport",
    "MalformedFile",
    "import_customers",
    "loss_date",
    "recover_interrupted",
    "undo_import",
]
