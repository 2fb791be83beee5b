"""Session recordings on modern ClickHouse (chDB 26.9): the recording migrations and the replay's queries
(ingest-gateway/src/replay/queries/*.sql), with seeded chunks and exact expected numbers.

The migrations come from `ingest-gateway migrate --print` (see test_chdb.py); rows are inserted into
`recording_chunks` directly (chDB cannot consume Kafka), which feeds the per-session summary through
008_recording_sessions_mv.sql. The same queries run on ClickHouse 18.16 in
ingest-gateway/tests/replay_warehouse.rs.

Run: python3 -m pytest tests/sql
"""

import base64
import gzip
import json
from pathlib import Path

import pytest

from test_chdb import DATABASE, ROOT, Warehouse, bind, as_migrate_creates

QUERIES = ROOT / "ingest-gateway" / "src" / "replay" / "queries"
COLUMNS = ROOT / "event-schema" / "contracts" / "recording_chunks.columns.json"
UINT64_MAX = 2**64 - 1
DAY_MS = 86_400_000
JAN_1 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
SITE = "r.example"

EMPTY_CHUNK = {name: (0 if ty.startswith(("UInt", "Int", "DateTime")) else "")
               for name, ty in json.loads(COLUMNS.read_text())}


def chunk(session, tab, seq, first_ms, *, part=0, parts=1, final=0, full=0, compressed=100, raw=1000, events=10,
          pathname="/", country="DE", device="pc", site=SITE):
    payload = gzip.compress(json.dumps([{"type": 3, "timestamp": first_ms, "seq": seq}]).encode(), mtime=0)
    return {**EMPTY_CHUNK, "schema_version": 1, "site": site, "session_id": session, "tab_id": tab, "seq": seq,
            "part": part, "parts": parts, "first_ts_ms": first_ms, "last_ts_ms": first_ms + 10_000,
            "event_count": events, "raw_bytes": raw, "compressed_bytes": compressed, "encoding": "gzip",
            "full_snapshot": full, "is_final": final, "dropped": "{}", "url": f"https://{site}{pathname}",
            "pathname": pathname, "visitor_id": "visitor", "timestamp": first_ms // 1000 + 1,
            "timestamp_ms": first_ms + 1000, "browser": "Chrome", "os": "Linux", "device": device,
            "country": country, "payload": base64.b64encode(payload).decode()}


T1, T2 = "TabOne1234567890", "TabTwo1234567890"
COMPLETE, GAPS, NO_FINAL = "SessComplete0001", "SessGaps00000002", "SessNoFinal00003"
START = {COMPLETE: JAN_1, GAPS: JAN_1 + 3_600_000, NO_FINAL: JAN_1 + 7_200_000}
CHUNKS = [
    # Complete: seqs 0..2 of one tab, the last final; 110 s long, two distinct pages.
    chunk(COMPLETE, T1, 0, START[COMPLETE], full=1, compressed=100, raw=1000, events=10),
    chunk(COMPLETE, T1, 1, START[COMPLETE] + 50_000, compressed=200, raw=2000, events=20, pathname="/a"),
    chunk(COMPLETE, T1, 2, START[COMPLETE] + 100_000, final=1, compressed=300, raw=3000, events=30, pathname="/a"),
    # Gaps: tab 1 misses seq 1 (withheld); tab 2 is whole. 75 s long, from a smartphone in France.
    chunk(GAPS, T1, 0, START[GAPS], full=1, country="FR", device="smartphone"),
    chunk(GAPS, T1, 2, START[GAPS] + 30_000, full=1, country="FR", device="smartphone"),
    chunk(GAPS, T1, 3, START[GAPS] + 65_000, final=1, country="FR", device="smartphone"),
    chunk(GAPS, T2, 0, START[GAPS] + 5_000, full=1, final=1, country="FR", device="smartphone", pathname="/b"),
    # No final: seq 0 in two parts, seq 1 not flagged final. 20 s long.
    chunk(NO_FINAL, T1, 0, START[NO_FINAL], part=0, parts=2, full=1, compressed=40),
    chunk(NO_FINAL, T1, 0, START[NO_FINAL], part=1, parts=2, full=1, compressed=60),
    chunk(NO_FINAL, T1, 1, START[NO_FINAL] + 10_000),
    # Outside the range or the site.
    chunk("SessLater0000004", T1, 0, JAN_1 + 2 * DAY_MS, final=1),
    chunk("SessOtherSite005", T1, 0, JAN_1, final=1, site="other.example"),
]
REDELIVERED = CHUNKS[1]  # delivered a second time, in its own insert (its own part), as a Kafka re-read would

# (session, duration_ms, pages, country, device, tabs, chunks, compressed, raw, events, missing, no_final, status)
EXPECTED = {
    COMPLETE: (COMPLETE, 110_000, 2, "DE", "pc", 1, 3, 600, 6000, 60, 0, 0, "complete"),
    GAPS: (GAPS, 75_000, 2, "FR", "smartphone", 2, 4, 400, 4000, 40, 1, 0, "gaps"),
    NO_FINAL: (NO_FINAL, 20_000, 1, "DE", "pc", 1, 3, 200, 3000, 30, 0, 1, "no_final"),
}


def sessions_query(site="", session="", from_ms=0, to_ms=UINT64_MAX, country="", device="", min_ms=0,
                   max_ms=UINT64_MAX, status="", limit=100):
    first_day = "1970-01-01" if from_ms < DAY_MS else "2025-12-31"
    return bind((QUERIES / "sessions.sql").read_text(), site, site, session, session, first_day, from_ms, to_ms,
                country, country, device, device, min_ms, max_ms, status, status, limit)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    wh = Warehouse(tmp_path_factory.mktemp("chdb-recordings"))
    for migration in as_migrate_creates():
        wh.apply(migration)
    for rows in (CHUNKS, [REDELIVERED]):
        body = "\n".join(json.dumps(row) for row in rows)
        wh.query(f"INSERT INTO recording_chunks FORMAT JSONEachRow {body}")
    return wh


def listed(wh, **filters):
    rows = [line.split("\t") for line in wh.query(sessions_query(**filters)).splitlines()]
    # Columns of sessions.sql: site, session_id, started, ended, duration, pages, entry_url, visitor, country,
    # browser, os, device, tabs, chunks, compressed, raw, events, missing, tabs_without_final, status.
    return [(r[1], int(r[4]), int(r[5]), r[8], r[11], int(r[12]), int(r[13]), int(r[14]), int(r[15]), int(r[16]),
             int(r[17]), int(r[18]), r[19]) for r in rows]


def test_the_chunk_table_and_its_queue_have_exactly_the_recording_chunk_contract_columns(wh):
    contract = json.loads(COLUMNS.read_text())
    assert wh.columns("recording_chunks") == contract
    assert wh.columns("recording_chunks_queue") == contract


def test_a_redelivered_chunk_is_stored_twice_until_a_merge_but_read_once(wh):
    stored = wh.query(f"SELECT count() FROM recording_chunks WHERE session_id = '{COMPLETE}' AND seq = 1")
    assert stored == "2"
    chunks = wh.query(bind((QUERIES / "session_chunks.sql").read_text(), SITE, COMPLETE, "", ""))
    assert [tuple(line.split("\t")[:3]) for line in chunks.splitlines()] == [(T1, "0", "0"), (T1, "1", "0"), (T1, "2", "0")]


def test_the_list_has_each_session_once_newest_first_with_exact_numbers(wh):
    got = listed(wh, site=SITE, from_ms=JAN_1, to_ms=JAN_1 + DAY_MS)
    assert got == [EXPECTED[NO_FINAL], EXPECTED[GAPS], EXPECTED[COMPLETE]]


@pytest.mark.parametrize("filters, sessions", [
    ({"status": "gaps"}, [GAPS]),
    ({"status": "no_final"}, [NO_FINAL]),
    ({"status": "complete"}, [COMPLETE]),
    ({"country": "DE"}, [NO_FINAL, COMPLETE]),
    ({"device": "smartphone"}, [GAPS]),
    ({"min_ms": 60_000}, [GAPS, COMPLETE]),
    ({"max_ms": 75_000}, [NO_FINAL, GAPS]),
    ({"limit": 1}, [NO_FINAL]),
    ({"session": GAPS}, [GAPS]),
])
def test_each_list_filter_narrows_the_list(wh, filters, sessions):
    base = {"site": SITE, "from_ms": JAN_1, "to_ms": JAN_1 + DAY_MS}
    assert [row[0] for row in listed(wh, **{**base, **filters})] == sessions


def test_without_a_site_every_site_is_listed_and_the_range_is_exclusive_at_its_end(wh):
    everything = [row[0] for row in listed(wh)]
    # Equal start times are ordered by site: other.example before r.example.
    assert everything == ["SessLater0000004", NO_FINAL, GAPS, "SessOtherSite005", COMPLETE]
    assert [row[0] for row in listed(wh, site=SITE, to_ms=START[GAPS])] == [COMPLETE]


def test_a_sessions_tabs_carry_each_chunk_envelope_once(wh):
    tabs = wh.query(bind((QUERIES / "session_tabs.sql").read_text(), SITE, GAPS)).splitlines()
    parsed = {line.split("\t")[0]: sorted(json.loads(line.split("\t")[1].replace("(", "[").replace(")", "]")))
              for line in tabs}
    # (seq, part, parts, is_final, full_snapshot)
    assert parsed == {T1: [[0, 0, 1, 0, 1], [2, 0, 1, 0, 1], [3, 0, 1, 1, 0]], T2: [[0, 0, 1, 1, 1]]}
