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
-- Entries form 16 hash chains (shards); an object's entries all go to one shard,
-- chosen by SM3(object), so one object's history is one ordered chain while
-- changes to different shards never wait for each other. Each entry's hash is
-- SM3(prev_hash || 0x1f || canonical encoding of every column but `hash`), see
-- src/store/audit.rs; `sscard audit verify` recomputes every chain.
CREATE TABLE audit_log (
    shard           BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    id              TEXT   NOT NULL UNIQUE,
    occurred_at     TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    actor_role      TEXT   NOT NULL,
    client_address  TEXT   NOT NULL,
    action          TEXT   NOT NULL,
    object          TEXT   NOT NULL,
    outcome         TEXT   NOT NULL,
    detail_json     TEXT   NOT NULL,
    prev_hash       TEXT   NOT NULL,
    hash            TEXT   NOT NULL,
    PRIMARY KEY (shard, seq)
);
CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at);
CREATE INDEX audit_log_object ON audit_log (object);

-- The head of each chain: the last sequence number issued and the hash of that
-- entry. Appending locks only its shard's row (UPDATE … RETURNING). Seq 0 holds
-- the genesis hash SM3("sscard-audit-genesis:<shard>") in lower-case hex; a unit
-- test in src/store/audit.rs checks these literals.
CREATE TABLE audit_heads (
    shard      BIGINT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    head_hash  TEXT   NOT NULL
);
INSERT INTO audit_heads (shard, seq, head_hash) VALUES
    ( 0, 0, '914d3d6f409904e11bf3cb7c9d3cf4dd6c3d75fba8e5a17f84abe6515082d906'),
    ( 1, 0, '135a3dab0dfa1e716d93ead26ddbff6e34763ec8e5bf3cbd4fa1a3c98108e3dd'),
    ( 2, 0, 'aa06755eab5e2c178d9b9d95fc4d957f8b44e2e0073de368dfed80bb85577463'),
    ( 3, 0, '0789722ad41b748e4473e1fcd8400cf60b2404212de7358bdcc093864969465a'),
    ( 4, 0, '9e346a0a880629abbc0a9fb5a9576404d9e3d01d24f18c41cc9e9d8fee3b8744'),
    ( 5, 0, '1684f9a52a496435e6367c6556d01454ba9318710f5e49ce943077c07a515035'),
    ( 6, 0, '88ecbf5d2bb94ecd561c20562698803dbed9e6e40cd5581dd5ccc3d6aabdba9c'),
    ( 7, 0, 'dd9c4035d7d6bd848f59028b700ad078b9b8eef0966ea2b2f8a061406cd5de12'),
    ( 8, 0, '8bbe1ed6db4db015482df2a08def54657ef3de892cf94957f047a86c65c0481d'),
    ( 9, 0, 'dd4c640c1591ee90edea50114e32b2f6bcb84abc59770ada21e9827e451e4dd0'),
    (10, 0, '35cb8d00b5423dddfd68555be6e9d437a34527eadd07060c8aa5442038a2b224'),
    (11, 0, '998208fb269502c6547ec6db28509ff6159614983b9b3ac00e733c9c92f2f41c'),
    (12, 0, '7610b28bb6ce9fd3bee7dea1452729b48affff596aaa4bed616bb055a8d2a6f4'),
    (13, 0, 'b36c42cb891ea31580702fdfa1c97f523d81cfb51564451bfd9535eaccd3c4e3'),
    (14, 0, '7fe1dcc655d36ec48bc48d7f10cf68ab483317450dad00689f1b2e1bdc52cd2a'),
    (15, 0, 'e315ec639eb3eb9c3dda390824adf363854dd56b68a12cb8cdfd8ba4f22cd82a');
