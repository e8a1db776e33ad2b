-- Operations (issue 10): the rate-limit buckets every node of one database
-- shares. Portable DDL (TEXT and BIGINT only).
--
-- One row per budget and client (`<budget>:<client address>`), holding the
-- GCRA "full again at" instant in microseconds since the Unix epoch: a
-- request passes when that instant is at most (burst - 1) refill intervals
-- ahead, and moves it on by one interval. One `INSERT … ON CONFLICT … DO
-- UPDATE … RETURNING` per limited request decides and answers (`allowed`
-- holds that request's fate, 1 or 0), so two nodes never both spend the
-- last request of a budget. A row whose instant has passed is a full bucket,
-- the same as no row: such rows are deleted now and then by any node.
-- Used with PostgreSQL; a single SQLite node keeps its buckets in memory.
CREATE TABLE rate_limit_buckets (
    bucket   TEXT   PRIMARY KEY,
    full_at  BIGINT NOT NULL,
    allowed  BIGINT NOT NULL
);
CREATE INDEX rate_limit_buckets_full_at ON rate_limit_buckets (full_at);
