"""Makes tests/data/store-before-migrations.sqlite3 with the store code of main 9f5288f."""
import sqlite3, sys
from datetime import UTC, datetime, timedelta
from mcu.clock import ManualClock
from mcu.model import ConferenceSpec, DirectorySite, Frequency, RecurrenceRule, SiteSpec
from mcu.scheduler import Scheduler
from mcu.store import Store
start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
hour = timedelta(hours=1)
store = Store(sys.argv[1])
s = Scheduler(store, ManualClock(start))
a = s.schedule(ConferenceSpec(name="plain", begin=start + hour, duration=hour, sites=[SiteSpec(uri="a", name="A"), SiteSpec(uri="b", name="B")]), creator="alice")
r = s.schedule_recurrence(ConferenceSpec(name="series", begin=start + 3 * hour, duration=hour, sites=[SiteSpec(uri="c", name="C")]), RecurrenceRule(Frequency.DAILY, count=3), creator="bob")
g = s.schedule(ConferenceSpec(name="gone", begin=start + 5 * hour, duration=hour, sites=[SiteSpec(uri="e", name="E")]))
s.delete(g.conf_id)
s.add_directory_site(DirectorySite(uri="dir", name="Directory", org_id="org-1"))
store.add_call_record("multipoint", start, ("a",), {"conf_id": a.conf_id, "site": "a"})
store.set_recording(a.conf_id, True)
store.set_live(r.conf_id, "token-1")
store.close()
c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()
print(a.conf_id, r.conf_id, g.conf_id, s.revision())
