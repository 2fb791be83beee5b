-- Kafka ingestion, part 2: the materialized view moves every block `page_visits_queue` reads into
-- `page_visits`. The Kafka engine starts consuming when a view is attached to it, which is why this is the
-- last object of the ingestion path to be created.
--
-- `SELECT *` is expanded into the queue's columns when the view is created; after a column is added, the
-- view is recreated with the queue (see sql/README.md, "Adding a stored field").
CREATE MATERIALIZED VIEW IF NOT EXISTS page_visits_mv ON CLUSTER pathlight TO page_visits_local
AS SELECT * FROM page_visits_queue WHERE length(_error) = 0;
