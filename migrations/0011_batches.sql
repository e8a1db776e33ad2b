-- 单位批量启用: an employer's batch activation, a case of the same item
-- (受理 → 经办 → 反馈), and the rows of its electronic list. Portable DDL
-- (TEXT and BIGINT only).
--
-- Personal data at rest: each row's ID number is sealed (`id_number_sealed`,
-- associated data "batch_rows.id_number_sealed:<row id>") and found by its
-- blind index (purpose "person.id_number", the registry's); screens and the
-- report read the `*_masked` columns. The list's mobile numbers are not
-- kept. The sealed authorization letter is an upload (`uploads`, the bytes
-- sealed in the blob store); the list file itself is not kept — its rows
-- are, and its SM3 digest names it.

-- Batch numbers are handed out per day of China's calendar:
-- PL-YYYYMMDD-NNNNNN, counted inside the submitting transaction.
CREATE TABLE batch_counters (
    day   TEXT   PRIMARY KEY,       -- YYYYMMDD
    last  BIGINT NOT NULL
);

CREATE TABLE batches (
    id                     TEXT   PRIMARY KEY,
    batch_no               TEXT   NOT NULL UNIQUE,
    item_code              TEXT   NOT NULL,      -- 基本编码
    implementation_code    TEXT   NOT NULL,      -- 实施编码
    guide_version          BIGINT NOT NULL,      -- the guide current at submission
    employer_uscc          TEXT   NOT NULL,      -- 统一社会信用代码 of the submitting account
    employer_name          TEXT   NOT NULL,
    submitted_by           TEXT   NOT NULL,      -- account:<uuid>
    letter_upload_id       TEXT   NOT NULL REFERENCES uploads (id),
    letter_status          TEXT   NOT NULL,      -- MaterialStatus code of the letter
    letter_reason          TEXT,                 -- why it is defective
    list_file_name         TEXT   NOT NULL,
    list_format            TEXT   NOT NULL,      -- CSV | XLSX
    list_encoding          TEXT   NOT NULL,      -- UTF-8, UTF-8 (BOM), GBK, XLSX …
    list_digest_sm3        TEXT   NOT NULL,
    header_row             BIGINT NOT NULL,
    ignored_columns        TEXT   NOT NULL,      -- JSON array of headers
    state                  TEXT   NOT NULL,      -- CaseState code
    outcome                TEXT,                 -- approved | denied | already_active
    outcome_code           TEXT,
    outcome_reason         TEXT,
    rows_total             BIGINT NOT NULL,
    rows_done              BIGINT NOT NULL,
    rows_succeeded         BIGINT NOT NULL,
    rows_failed            BIGINT NOT NULL,
    rows_activated         BIGINT NOT NULL,
    bank_requests          BIGINT NOT NULL,      -- rows asking for the bank function
    chunks_done            BIGINT NOT NULL,
    received_at            TEXT   NOT NULL,
    step_started_at        TEXT,
    step_due               TEXT,                 -- YYYY-MM-DD
    step_due_provisional   BIGINT NOT NULL DEFAULT 0,
    case_due               TEXT,
    processing_started_at  TEXT,
    processing_finished_at TEXT,
    delivered_at           TEXT,
    version                BIGINT NOT NULL,      -- bumped by every step; guards races
    created_at             TEXT   NOT NULL,
    updated_at             TEXT   NOT NULL
);
CREATE INDEX batches_state ON batches (state, created_at);
CREATE INDEX batches_employer ON batches (employer_uscc, created_at);

-- One row per data row of the list, in the list's order. `status` is
-- pending until a chunk transaction of the worker decides it; the change of
-- the card, the row's result and the chunk's audit entry commit together.
CREATE TABLE batch_rows (
    id                 TEXT   PRIMARY KEY,
    batch_id           TEXT   NOT NULL REFERENCES batches (id),
    line_no            BIGINT NOT NULL,        -- the row as Excel shows it
    name               TEXT   NOT NULL,
    id_number_index    TEXT,                   -- blind index; only for a row read without problem
    id_number_sealed   TEXT,
    id_number_masked   TEXT   NOT NULL,
    card_number        TEXT,                   -- canonical, when valid
    card_masked        TEXT   NOT NULL,
    bank_requested     BIGINT NOT NULL,        -- 0 | 1
    problem_code       TEXT,                   -- found when the list was read
    problem_reason     TEXT,
    status             TEXT   NOT NULL,        -- pending | succeeded | failed
    result_code        TEXT,                   -- ACTIVATED | ALREADY_ACTIVE | failure code
    result_reason      TEXT,
    card_id            TEXT,                   -- the card activated
    chunk_no           BIGINT,                 -- the chunk that decided the row
    processed_at       TEXT,
    UNIQUE (batch_id, line_no)
);
CREATE INDEX batch_rows_status ON batch_rows (batch_id, status, line_no);
CREATE INDEX batch_rows_person ON batch_rows (batch_id, id_number_index, line_no);

-- The timeline of a batch: submission and every step.
CREATE TABLE batch_steps (
    id            TEXT   PRIMARY KEY,
    batch_id      TEXT   NOT NULL REFERENCES batches (id),
    seq           BIGINT NOT NULL,
    action        TEXT   NOT NULL,             -- submit | CaseActionKind code
    from_state    TEXT,
    to_state      TEXT   NOT NULL,
    outcome       TEXT,
    actor         TEXT   NOT NULL,
    actor_role    TEXT   NOT NULL,
    actor_name    TEXT   NOT NULL,
    occurred_at   TEXT   NOT NULL,
    opinion       TEXT,
    code          TEXT,
    detail        TEXT,                        -- JSON
    next_due      TEXT,
    UNIQUE (batch_id, seq)
);
