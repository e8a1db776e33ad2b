-- Portable DDL: the same statements run on SQLite and PostgreSQL.
-- Types are limited to TEXT and BIGINT on purpose (see docs/ARCHITECTURE.md):
-- times are RFC 3339 UTC text, civil dates are YYYY-MM-DD text, flags are 0/1.

-- 办事指南 — every published version of the service guide, never changed once written.
CREATE TABLE guide_versions (
    version       BIGINT PRIMARY KEY,
    content_json  TEXT   NOT NULL,
    source_toml   TEXT   NOT NULL,
    published_at  TEXT   NOT NULL,
    published_by  TEXT   NOT NULL
);

-- 工作日历 — one row per loaded year of statutory holidays and adjusted working days.
CREATE TABLE calendar_years (
    year          BIGINT PRIMARY KEY,
    source        TEXT   NOT NULL,
    content_json  TEXT   NOT NULL,
    imported_at   TEXT   NOT NULL,
    imported_by   TEXT   NOT NULL
);

-- The audit trail: one entry per change, written in the change's own transaction.
CREATE TABLE audit_log (
    id            TEXT   PRIMARY KEY,
    occurred_at   TEXT   NOT NULL,
    actor         TEXT   NOT NULL,
    action        TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    detail_json   TEXT   NOT NULL
);
CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at);
