-- Recording ingestion, part 1: `recording_chunks_queue` consumes the session_recordings topic; it stores
-- nothing. The view of 006_recording_chunks_mv.sql moves what it reads into `recording_chunks`.
--
-- `AS recording_chunks`: the queue has exactly the chunk table's columns, which are the RecordingChunk
-- contract's. JSONEachRow: each record value is one flat RecordingChunk object, `payload` a base64 string.
-- On ClickHouse 18.16 one record that fails to parse stops this table's consumption for good, so the
-- gateway refuses any record on this topic that is not an exact chunk row (ingest-gateway/src/replay/).
--
-- Its own consumer group, `${CONSUMER_GROUP}_recordings`: a group shared with page_visits_queue would
-- rebalance both tables whenever either consumer joins or leaves.
CREATE TABLE IF NOT EXISTS recording_chunks_queue AS recording_chunks
ENGINE = Kafka
SETTINGS
    kafka_broker_list = '${KAFKA_BROKERS}',
    kafka_topic_list = '${SESSION_RECORDINGS_TOPIC}',
    kafka_group_name = '${CONSUMER_GROUP}_recordings',
    kafka_format = 'JSONEachRow',
    -- Every row ends a block, so a read ends on time under a steady flow (sql/README.md, "Freshness and parts").
    kafka_max_block_size = 1;
