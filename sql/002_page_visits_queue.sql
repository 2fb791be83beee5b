-- Kafka ingestion, part 1: `page_visits_queue` is a consumer of the topic; it stores nothing. The view of
-- 003_page_visits_mv.sql moves every block it reads into `page_visits`, and consumption starts only once
-- that view is attached.
--
-- The broker list, topic and consumer group are substituted by the migration runner from its config
-- (ClickHouse cannot bind values in DDL); it accepts only [A-Za-z0-9._:,-] in them. They are fixed when the
-- table is created: to change them, add migrations that drop and recreate the view and this table (see
-- sql/README.md).
--
-- `AS page_visits` gives the queue exactly the columns the durable table has at the moment this runs, so
-- the two start equal; a column added to page_visits later reaches the queue only when it is recreated.
-- JSONEachRow: each record value is one flat StoredEvent object; `timestamp` travels as unix seconds.
-- On ClickHouse 18.16 a record that fails to parse stops this table's consumption for good, so only
-- well-formed events may be produced to the topic.
CREATE TABLE IF NOT EXISTS page_visits_queue AS page_visits
ENGINE = Kafka
SETTINGS
    kafka_broker_list = '${KAFKA_BROKERS}',
    kafka_topic_list = '${PAGE_VISITS_TOPIC}',
    kafka_group_name = '${CONSUMER_GROUP}',
    kafka_format = 'JSONEachRow',
    -- Every row ends a block, so a read ends on time under a steady flow (sql/README.md, "Freshness and parts").
    kafka_max_block_size = 1;
