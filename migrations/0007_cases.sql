-- The activation case (办件): applications, their materials and uploaded
-- scans, every step of 受理 → 经办 → 反馈, and the idempotency keys of
-- creating requests. Portable DDL (TEXT and BIGINT only).
--
-- Personal data at rest: the filled-in application form (ID numbers of the
-- applicant and the agent, mobile numbers, the postal address) is one sealed
-- JSON document per case (`form_sealed`, associated data
-- "cases.form_sealed:<case id>"); screens read the `*_masked` columns. The
-- applicant's ID number is found by its blind index (purpose
-- "person.id_number", the same as the registry's). Scans live outside the
-- database in the blob store, sealed as well; `uploads` holds their metadata.

-- Application numbers are handed out per day of China's calendar:
-- SQ-YYYYMMDD-NNNNN. The counter row is updated inside the submitting
-- transaction, so two nodes never hand out the same number.
CREATE TABLE case_counters (
    day   TEXT   PRIMARY KEY,       -- YYYYMMDD
    last  BIGINT NOT NULL
);

CREATE TABLE cases (
    id                     TEXT   PRIMARY KEY,
    application_no         TEXT   NOT NULL UNIQUE,
    item_code              TEXT   NOT NULL,      -- 基本编码
    implementation_code    TEXT   NOT NULL,      -- 实施编码
    guide_version          BIGINT NOT NULL,      -- the guide current at submission
    channel                TEXT   NOT NULL,      -- window | online | express
    service                TEXT   NOT NULL,      -- activate (启用)
    person_id              TEXT   REFERENCES persons (id),   -- NULL: not in the registry
    applicant_index        TEXT   NOT NULL,      -- blind index of the applicant's ID number
    applicant_name         TEXT   NOT NULL,
    applicant_id_masked    TEXT   NOT NULL,
    card_id                TEXT   REFERENCES cards (id),     -- NULL: no such card on record
    card_number            TEXT   NOT NULL,
    has_agent              BIGINT NOT NULL,      -- 0 | 1
    agent_name             TEXT,
    agent_id_masked        TEXT,
    form_sealed            TEXT   NOT NULL,
    delivery_method        TEXT   NOT NULL,      -- window | online | express
    delivery_address_masked TEXT,
    inbound_waybill        TEXT,                 -- 快递申请: the waybill it came with
    state                  TEXT   NOT NULL,      -- CaseState code
    outcome                TEXT,                 -- approved | denied | already_active
    outcome_code           TEXT,                 -- refusal / denial reason code
    outcome_reason         TEXT,
    received_at            TEXT   NOT NULL,
    step_started_at        TEXT,                 -- when the running step's clock started
    step_due               TEXT,                 -- YYYY-MM-DD, end of that working day
    step_due_provisional   BIGINT NOT NULL DEFAULT 0,
    case_due               TEXT,                 -- the whole case's due date, per the guide
    delivery_detail        TEXT,                 -- JSON: how the result was delivered
    submitted_by           TEXT   NOT NULL,      -- citizen:<person id> | account:<uuid>
    version                BIGINT NOT NULL,      -- bumped by every change; guards races
    created_at             TEXT   NOT NULL,
    updated_at             TEXT   NOT NULL
);
CREATE INDEX cases_state_due ON cases (state, step_due);
CREATE INDEX cases_applicant ON cases (applicant_index, created_at);
CREATE INDEX cases_person ON cases (person_id);
CREATE INDEX cases_card ON cases (card_id);

-- One row per required material of the case: its status and, when a scan
-- was uploaded, the upload.
CREATE TABLE case_materials (
    case_id      TEXT NOT NULL REFERENCES cases (id),
    code         TEXT NOT NULL,                  -- the guide's material code
    status       TEXT NOT NULL,                  -- MaterialStatus code
    reason       TEXT,                           -- why it is defective
    upload_id    TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (case_id, code)
);

-- Uploaded scans (PDF, JPEG, PNG, recognised by content). The bytes are in
-- the blob store under `id`; an upload belongs to whoever sent it until a
-- case takes it (`case_id`).
CREATE TABLE uploads (
    id            TEXT   PRIMARY KEY,
    owner         TEXT   NOT NULL,               -- citizen:<person id> | account:<uuid>
    content_type  TEXT   NOT NULL,
    size_bytes    BIGINT NOT NULL,
    digest_sm3    TEXT   NOT NULL,               -- SM3 of the plain bytes, hex
    file_name     TEXT   NOT NULL,
    case_id       TEXT   REFERENCES cases (id),
    created_at    TEXT   NOT NULL
);
CREATE INDEX uploads_case ON uploads (case_id);

-- The timeline: submission and every action, with who, when, the opinion
-- and the due date of the step the action started.
CREATE TABLE case_steps (
    id            TEXT   PRIMARY KEY,
    case_id       TEXT   NOT NULL REFERENCES cases (id),
    seq           BIGINT NOT NULL,
    action        TEXT   NOT NULL,               -- submit | CaseActionKind code
    from_state    TEXT,
    to_state      TEXT   NOT NULL,
    outcome       TEXT,
    actor         TEXT   NOT NULL,
    actor_role    TEXT   NOT NULL,
    actor_name    TEXT   NOT NULL,               -- account user name, or 申请人
    occurred_at   TEXT   NOT NULL,
    opinion       TEXT,                          -- the clerk's opinion / reason text
    code          TEXT,                          -- refusal / denial code
    detail        TEXT,                          -- JSON: notice items, delivery …
    next_due      TEXT,                          -- the due date of the step it started
    UNIQUE (case_id, seq)
);

-- Idempotency-Key of creating requests: the same key from the same client
-- with the same body gets the first answer (the created object), another
-- body is refused.
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,                 -- route + caller
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,                 -- SM3 of the canonical body
    result_ref    TEXT NOT NULL,                 -- e.g. the application number
    created_at    TEXT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
