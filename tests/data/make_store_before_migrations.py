"""Made tests/data/store-before-migrations.sqlite3 with the store code of commit 9f5288f (the
last before versioned migrations), run from that checkout as
`PYTHONPATH=. python tests/data/make_store_before_migrations.py FILE`; it printed
"1001 1002 1003 5". Kept as the record of what the file holds (tests/test_store_migrations.py);
with today's code it would make a file at the newest version instead."""

import sqlite3
import sys
from datetime import UTC, datetime, timedelta

from mcu.clock import ManualClock
from mcu.model import ConferenceSpec, DirectorySite, Frequency, RecurrenceRule, SiteSpec
from mcu.scheduler import Scheduler
from mcu.store import Store

start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
hour = timedelta(hours=1)
store = Store(sys.argv[1])
scheduler = Scheduler(store, ManualClock(start))
plain = scheduler.schedule(
    ConferenceSpec(name="plain", begin=start + hour, duration=hour,
                   sites=[SiteSpec(uri="a", name="A"), SiteSpec(uri="b", name="B")]),
    creator="alice")
series = scheduler.schedule_recurrence(
    ConferenceSpec(name="series", begin=start + 3 * hour, duration=hour,
                   sites=[SiteSpec(uri="c", name="C")]),
    RecurrenceRule(Frequency.DAILY, count=3), creator="bob")
gone = scheduler.schedule(ConferenceSpec(name="gone", begin=start + 5 * hour, duration=hour,
                                         sites=[SiteSpec(uri="e", name="E")]))
scheduler.delete(gone.conf_id)
scheduler.add_directory_site(DirectorySite(uri="dir", name="Directory", org_id="org-1"))
store.add_call_record("multipoint", start, ("a",), {"conf_id": plain.conf_id, "site": "a"})
store.set_recording(plain.conf_id, True)
store.set_live(series.conf_id, "token-1")
store.close()
# one self-contained file: the WAL checkpointed into it, then the rollback journal mode
connection = sqlite3.connect(sys.argv[1])
connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
connection.execute("PRAGMA journal_mode=DELETE")
connection.close()
print(plain.conf_id, series.conf_id, gone.conf_id, scheduler.revision())
