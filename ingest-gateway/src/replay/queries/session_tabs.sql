-- One session's tabs, each with the envelope of every chunk stored for it (seq, part, parts, is_final,
-- full_snapshot), deduplicated by the summary's sets: the replay computes the missing sequence numbers
-- from them. Bound in order: site, session_id.
SELECT
    tab_id,
    arrayMap(c -> (c.1, c.2, c.3, c.4, c.5), groupUniqArrayMerge(chunks)) AS chunks
FROM recording_sessions
WHERE site = ? AND session_id = ?
GROUP BY tab_id
ORDER BY tab_id
