-- Pipeline health: distinct events received per minute over [from, to), every minute listed, empty minutes
-- as 0 (18.16 has no WITH FILL, so the minutes come from numbers() and the counts are joined onto them).
-- By the edge's receive time; distinct event ids, so a redelivered event is one row whether or not its
-- copies were merged yet. All sites when the site is empty.
-- Bound in order: from (unix seconds, a whole minute), minutes in the range, site, site, from, to.
SELECT
    minute,
    events
FROM
(
    SELECT toUInt32(? + number * 60) AS minute
    FROM numbers(?)
) AS minutes
ANY LEFT JOIN
(
    SELECT
        toUInt32(toStartOfMinute(timestamp)) AS minute,
        toUInt64(uniqExact(event_id)) AS events
    FROM page_visits
    WHERE (? = '' OR site = ?)
      AND timestamp >= toDateTime(?)
      AND timestamp < toDateTime(?)
    GROUP BY minute
) AS received USING minute
ORDER BY minute
