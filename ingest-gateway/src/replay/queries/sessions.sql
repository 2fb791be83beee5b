-- Recorded sessions, newest first, with their completeness: the replay list, and one session's metadata.
-- Read from recording_sessions (sql/007), whose states a redelivered chunk cannot change (see there).
--
-- Inner level, one row per tab: the tab's set of chunk envelopes (seq, part, parts, is_final,
-- full_snapshot, compressed_bytes, raw_bytes, event_count) and what follows from it. A sequence number
-- counts as received when all its parts are: arrayEnumerateUniq numbers the distinct (seq, part) keys of
-- each seq 1, 2, ..., so a seq of `parts` parts is complete exactly when one key's number equals `parts`.
-- Everything from 0 to the highest seq that is not complete is missing (a gap). The tab's last chunk
-- arrived when the chunk with the highest seq carries the final flag. All of it is linear in the chunks.
--
-- Middle level, one row per session; outer level, the filters on what the middle level computed.
-- Status: `gaps` when any tab misses a sequence number, else `no_final` when any tab's last chunk has not
-- arrived, else `complete`.
--
-- Bound in order: site, site (empty for every site), session_id, session_id (empty for every session),
-- first receive day to read ('YYYY-MM-DD', a day before `from` since recorder clocks may run a day
-- ahead), from_ms, to_ms (session start in [from, to)), country, country, device, device (empty for
-- any), min_duration_ms, max_duration_ms, status, status (empty for any), limit.
SELECT
    site,
    session_id,
    started_ms,
    ended_ms,
    duration_ms,
    pages,
    entry_url,
    visitor_id,
    country,
    browser,
    os,
    device,
    tabs,
    chunks,
    compressed_bytes,
    raw_bytes,
    events,
    missing_seqs,
    tabs_without_final,
    status
FROM
(
    SELECT
        site,
        session_id,
        min(tab_started_ms) AS started_ms,
        max(tab_ended_ms) AS ended_ms,
        ended_ms - started_ms AS duration_ms,
        toUInt32(length(groupUniqArrayArray(tab_pages))) AS pages,
        argMin(tab_entry_url, tab_started_ms) AS entry_url,
        argMin(tab_visitor_id, tab_started_ms) AS visitor_id,
        argMin(tab_country, tab_started_ms) AS country,
        argMin(tab_browser, tab_started_ms) AS browser,
        argMin(tab_os, tab_started_ms) AS os,
        argMin(tab_device, tab_started_ms) AS device,
        toUInt32(count()) AS tabs,
        toUInt32(sum(tab_chunks)) AS chunks,
        toUInt64(sum(tab_compressed_bytes)) AS compressed_bytes,
        toUInt64(sum(tab_raw_bytes)) AS raw_bytes,
        toUInt64(sum(tab_events)) AS events,
        toUInt32(sum(tab_missing_seqs)) AS missing_seqs,
        toUInt32(countIf(tab_has_final = 0)) AS tabs_without_final,
        multiIf(missing_seqs > 0, 'gaps', tabs_without_final > 0, 'no_final', 'complete') AS status
    FROM
    (
        SELECT
            site,
            session_id,
            tab_id,
            minMerge(started_ms) AS tab_started_ms,
            maxMerge(ended_ms) AS tab_ended_ms,
            groupUniqArrayMerge(pages) AS tab_pages,
            argMinMerge(entry_url) AS tab_entry_url,
            argMinMerge(visitor_id) AS tab_visitor_id,
            argMinMerge(country) AS tab_country,
            argMinMerge(browser) AS tab_browser,
            argMinMerge(os) AS tab_os,
            argMinMerge(device) AS tab_device,
            groupUniqArrayMerge(chunks) AS tab_chunk_set,
            length(tab_chunk_set) AS tab_chunks,
            arraySum(arrayMap(c -> toUInt64(c.6), tab_chunk_set)) AS tab_compressed_bytes,
            arraySum(arrayMap(c -> toUInt64(c.7), tab_chunk_set)) AS tab_raw_bytes,
            arraySum(arrayMap(c -> toUInt64(c.8), tab_chunk_set)) AS tab_events,
            arrayReduce('max', arrayMap(c -> c.1, tab_chunk_set)) AS tab_max_seq,
            arrayDistinct(arrayMap(c -> (c.1, c.2, c.3), tab_chunk_set)) AS tab_keys,
            arrayCount((key, nth) -> nth = key.3, tab_keys, arrayEnumerateUniq(arrayMap(key -> key.1, tab_keys)))
                AS tab_complete_seqs,
            toUInt64(tab_max_seq) + 1 - tab_complete_seqs AS tab_missing_seqs,
            arrayExists(c -> c.1 = tab_max_seq AND c.4 = 1, tab_chunk_set) AS tab_has_final
        FROM recording_sessions
        WHERE (? = '' OR site = ?)
          AND (? = '' OR session_id = ?)
          AND day >= toDate(?)
        GROUP BY site, session_id, tab_id
    )
    GROUP BY site, session_id
)
WHERE started_ms >= ?
  AND started_ms < ?
  AND (? = '' OR country = ?)
  AND (? = '' OR device = ?)
  AND duration_ms >= ?
  AND duration_ms <= ?
  AND (? = '' OR status = ?)
ORDER BY started_ms DESC, site, session_id
LIMIT ?
