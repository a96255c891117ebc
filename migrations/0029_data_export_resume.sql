-- Asynchronous exports resume where a crashed worker stopped (src/privacy/DataExportJobs.ts): each chunk carries
-- where the document continues after it (a section, a page cursor, how far into that page, a digest of that
-- stretch), sealed under the customer's data key like the chunk. Chunks stored before have none: their jobs
-- start afresh.
ALTER TABLE data_export_chunks ADD COLUMN resume bytea;
