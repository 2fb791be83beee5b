-- Recording ingestion, part 2: every block `recording_chunks_queue` reads goes into `recording_chunks`
-- unchanged (payload stays base64: 18.16 cannot decode it, see 004_recording_chunks.sql). Consumption
-- starts when this view is attached.
CREATE MATERIALIZED VIEW IF NOT EXISTS recording_chunks_mv ON CLUSTER pathlight TO recording_chunks_local
AS SELECT * FROM recording_chunks_queue WHERE length(_error) = 0;
