-- Kafka ingestion: the `page_visits_queue` table is a consumer of the topic (it stores nothing), and the
-- materialized view moves every block it reads into `page_visits`. Consumption starts when the view is
-- attached, so the view is created last.
--
-- The broker list, topic and consumer group are substituted by the migration runner from its config
-- (ClickHouse cannot bind values in DDL); it accepts only [A-Za-z0-9._:,-] in them. They are fixed when the
-- table is created: to change them, add a migration that drops and recreates both objects.
--
-- `AS page_visits` gives the queue exactly the columns of the durable table, so the two cannot drift.
-- JSONEachRow: each record value is one flat StoredEvent object; `timestamp` travels as unix seconds.
-- On ClickHouse 18.16 a record that fails to parse stops this table's consumption for good, so only
-- well-formed events may be produced to the topic.
CREATE TABLE IF NOT EXISTS page_visits_queue AS page_visits
ENGINE = Kafka
SETTINGS
    kafka_broker_list = '${KAFKA_BROKERS}',
    kafka_topic_list = '${PAGE_VISITS_TOPIC}',
    kafka_group_name = '${CONSUMER_GROUP}',
    kafka_format = 'JSONEachRow';

CREATE MATERIALIZED VIEW IF NOT EXISTS page_visits_mv TO page_visits
AS SELECT * FROM page_visits_queue;
