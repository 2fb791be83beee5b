-- Every stored chunk of one session (one tab, or all when the tab is empty), in replay order. FINAL keeps
-- one copy of a chunk delivered more than once (sql/004). Bound in order: site, session_id, tab, tab.
SELECT tab_id, seq, part, parts, encoding, payload
FROM recording_chunks FINAL
WHERE site = ? AND session_id = ? AND (? = '' OR tab_id = ?)
ORDER BY tab_id, seq, part
