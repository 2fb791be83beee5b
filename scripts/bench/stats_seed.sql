-- Seeds page_visits through its materialized views, as ingestion does, with one chunk of the stats
-- benchmark's synthetic traffic (scripts/bench/stats.sh substitutes __START__, __OFFSET__, __COUNT__,
-- __SLOTS__ and __DAYS__; the tests start on 2026-10-01, unix 1790812800).
-- Each slot is a place in a visit of up to six: the visit (intDiv(slot, 6)) has 1 to 6 page views, then an
-- engagement event or, for one visit in five, a custom event. Visits start evenly over __DAYS__ days from
-- __START__ (unix seconds of a UTC midnight); a visitor is one of 60,000 per day (visitor ids rotate daily, as the edge makes them);
-- 50 countries, 3,000 pages, 12 referrers and the devices are drawn with skew from hashes of the visit.
INSERT INTO page_visits (event_id, schema_version, kind, site, session_id, visitor_id, timestamp, timestamp_ms, url,
                         hostname, pathname, referrer_host, screen_width, utm_source, utm_medium, event_name, props,
                         browser, os, device, country, region, city)
SELECT
    concat('e', toString(slot)) AS event_id,
    1 AS schema_version,
    multiIf(position < views, 'pageview', visit % 5 = 0, 'event', 'engagement') AS kind,
    'bench.example' AS site,
    concat('s', toString(visit)) AS session_id,
    concat(toString(toDate(toDateTime(start_s + position * 37))), '-',
           toString(cityHash64(visit, 'v') % 60000)) AS visitor_id,
    toDateTime(start_s + position * 37) AS timestamp,
    toUInt64(start_s + position * 37) * 1000 + visit % 1000 AS timestamp_ms,
    concat('https://bench.example', pathname) AS url,
    'bench.example' AS hostname,
    concat('/p/', toString(toUInt32(pow((cityHash64(visit, position) % 10000) / 10000, 3) * 3000))) AS pathname,
    arrayElement(['', '', '', '', 'google.com', 'google.com', 'bing.com', 'news.ycombinator.com', 'twitter.com',
                  'reddit.com', 'duckduckgo.com', 'github.com', 'facebook.com', 'linkedin.com', 'example.org',
                  'lobste.rs'], toUInt32(cityHash64(visit, 'r') % 16) + 1) AS referrer_host,
    arrayElement([375, 390, 768, 1024, 1280, 1366, 1920, 2560, 0],
                 toUInt32(cityHash64(visit, 'w') % 9) + 1) AS screen_width,
    if(cityHash64(visit, 'u') % 10 = 0, 'newsletter', '') AS utm_source,
    if(cityHash64(visit, 'u') % 10 = 0, 'email', '') AS utm_medium,
    if(kind = 'event', arrayElement(['signup', 'download', 'purchase'], toUInt32(visit % 3) + 1), '') AS event_name,
    '{}' AS props,
    arrayElement(['Chrome', 'Chrome', 'Chrome', 'Safari', 'Safari', 'Firefox', 'Edge', 'Opera'],
                 toUInt32(cityHash64(visit, 'b') % 8) + 1) AS browser,
    arrayElement(['Windows', 'Windows', 'macOS', 'Android', 'Android', 'iOS', 'Linux'],
                 toUInt32(cityHash64(visit, 'o') % 7) + 1) AS os,
    arrayElement(['pc', 'pc', 'smartphone', 'smartphone', 'tablet'],
                 toUInt32(cityHash64(visit, 'd') % 5) + 1) AS device,
    concat('C', toString(country_index)) AS country,
    concat('C', toString(country_index), '-R', toString(cityHash64(visit, 'g') % 5)) AS region,
    concat('C', toString(country_index), '-T', toString(cityHash64(visit, 'g') % 12)) AS city
FROM
(
    SELECT
        number + __OFFSET__ AS slot,
        intDiv(slot, 6) AS visit,
        slot % 6 AS position,
        toUInt32(cityHash64(visit) % 6) + 1 AS views,
        toUInt32(__START__ + intDiv(visit * (__DAYS__ * 86400), intDiv(__SLOTS__, 6))) AS start_s,
        toUInt32(pow((cityHash64(visit, 'c') % 10000) / 10000, 2) * 50) AS country_index
    FROM numbers(__COUNT__)
)
WHERE position <= views
