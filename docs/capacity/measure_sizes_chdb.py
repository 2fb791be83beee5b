"""Bytes per stored page view on current ClickHouse (chDB, in-process): the statements `ingest-gateway migrate
--print` sends (without the Kafka-engine tables), docs/capacity/seed_page_visits.sql, OPTIMIZE ... FINAL, then
rows and bytes per table from system.parts, as measure_sizes.sh does on a server.
Run: python3 docs/capacity/measure_sizes_chdb.py [ingest-gateway binary]"""
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import chdb.session

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "ingest-gateway")
TABLES = ("page_visits", "stats_hourly", "stats_sessions")

printed = subprocess.run([GATEWAY, "migrate", "--print", "--sql-dir", str(ROOT / "sql")], capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout
session = chdb.session.Session(tempfile.mkdtemp())
session.query("CREATE DATABASE capacity_sizes")
session.query("USE capacity_sizes")
for migration in json.loads(printed):
    if not re.search(r"ENGINE\s*=\s*Kafka|FROM\s+\w+_queue\b", migration["statement"]):
        session.query(migration["statement"])
started = time.time()
session.query((ROOT / "docs" / "capacity" / "seed_page_visits.sql").read_text())
print(f"seeded in {time.time() - started:.1f} s on ClickHouse {session.query('SELECT version()', 'TSVRaw')}".strip())
for table in TABLES:
    session.query(f"OPTIMIZE TABLE {table} FINAL")
print(session.query(f"""SELECT table, sum(rows) AS rows, sum(data_compressed_bytes) AS compressed,
    sum(data_uncompressed_bytes) AS uncompressed,
    round(sum(data_compressed_bytes) / (SELECT count() FROM page_visits WHERE kind = 'pageview'), 1) AS bytes_per_pageview
    FROM system.parts WHERE database = currentDatabase() AND active AND table IN {TABLES}
    GROUP BY table ORDER BY table""", "PrettyCompactMonoBlock"))
