-- What a case tells and hears back (issue 6): the text messages sent to the
-- applicant, the rating of an ended case (好差评) and the follow-up of a bad
-- one (整改回访), and online questions about the item (互联网咨询).
-- Portable DDL (TEXT and BIGINT only).

-- The SMS notices of a case, written in the transaction of the action that
-- causes them (a transactional outbox) and sent after it commits, so a
-- failing gateway never undoes or half-writes the action. The text names
-- no person (application number, materials, carrier and waybill only); the
-- number is kept masked here and read from the sealed form when sending.
CREATE TABLE case_notifications (
    id             TEXT   PRIMARY KEY,
    case_id        TEXT   NOT NULL REFERENCES cases (id),
    step_seq       BIGINT NOT NULL,              -- the timeline step that caused it
    kind           TEXT   NOT NULL,              -- accepted | notice | refused | completed | dispatched
    mobile_masked  TEXT,                         -- NULL: no usable number on the form
    text           TEXT   NOT NULL,
    status         TEXT   NOT NULL,              -- pending | sent | failed | no_mobile
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT,                         -- the gateway's reason, no personal data
    created_at     TEXT   NOT NULL,
    sent_at        TEXT
);
CREATE INDEX case_notifications_case ON case_notifications (case_id, step_seq);
CREATE INDEX case_notifications_status ON case_notifications (status, created_at);

-- 好差评: one rating per case (一次一评), enforced by the UNIQUE case_id.
-- The comment is citizens' free text, sealed like the form
-- ("ratings.comment_sealed:<rating id>").
CREATE TABLE ratings (
    id              TEXT   PRIMARY KEY,
    case_id         TEXT   NOT NULL UNIQUE REFERENCES cases (id),
    application_no  TEXT   NOT NULL,
    level           TEXT   NOT NULL,             -- RatingLevel code
    comment_sealed  TEXT,
    channel         TEXT   NOT NULL,             -- online | window
    rated_by        TEXT   NOT NULL,             -- citizen:<person id> | account:<uuid>
    rated_by_name   TEXT   NOT NULL,
    rated_at        TEXT   NOT NULL,
    rated_on        TEXT   NOT NULL              -- YYYY-MM-DD, China's calendar
);
CREATE INDEX ratings_rated_at ON ratings (rated_at);

-- 整改回访 of a bad rating: opened in the rating's transaction, due a number
-- of working days after the rating; one per rating.
CREATE TABLE follow_ups (
    id               TEXT   PRIMARY KEY,
    rating_id        TEXT   NOT NULL UNIQUE REFERENCES ratings (id),
    case_id          TEXT   NOT NULL REFERENCES cases (id),
    application_no   TEXT   NOT NULL UNIQUE,
    level            TEXT   NOT NULL,
    status           TEXT   NOT NULL,            -- open | rectified | called_back | closed
    working_days     BIGINT NOT NULL,            -- the time limit it was opened with
    due_on           TEXT   NOT NULL,            -- YYYY-MM-DD
    due_provisional  BIGINT NOT NULL,            -- 0 | 1: a year on the way had no calendar
    opened_at        TEXT   NOT NULL,
    closed_at        TEXT,
    version          BIGINT NOT NULL             -- bumped by every record; guards races
);
CREATE INDEX follow_ups_status_due ON follow_ups (status, due_on);

-- What supervisors recorded on a follow-up, in order.
CREATE TABLE follow_up_records (
    id             TEXT   PRIMARY KEY,
    follow_up_id   TEXT   NOT NULL REFERENCES follow_ups (id),
    seq            BIGINT NOT NULL,
    step           TEXT   NOT NULL,              -- rectification | call-back | close
    note           TEXT,
    result         TEXT,                         -- call-back: satisfied | unsatisfied | unreachable
    actor          TEXT   NOT NULL,
    actor_name     TEXT   NOT NULL,
    occurred_at    TEXT   NOT NULL,
    UNIQUE (follow_up_id, seq)
);

-- 互联网咨询: a question about the item and its answer. Asked anonymously,
-- it is read back with its number and a random access code, kept only as
-- its blind index (HMAC-SM3, purpose "consultation.access_code"); asked by a
-- signed-in cardholder, it belongs to the person. The question is citizens'
-- free text, sealed ("consultations.question_sealed:<id>").
CREATE TABLE consultations (
    id                 TEXT   PRIMARY KEY,
    consultation_no    TEXT   NOT NULL UNIQUE,   -- ZX-YYYYMMDD-NNNNNN
    item_code          TEXT   NOT NULL,
    person_id          TEXT   REFERENCES persons (id),
    access_code_index  TEXT,
    question_sealed    TEXT   NOT NULL,
    asked_at           TEXT   NOT NULL,
    status             TEXT   NOT NULL,          -- open | answered
    answer             TEXT,
    answered_by        TEXT,
    answered_by_name   TEXT,
    answered_at        TEXT,
    version            BIGINT NOT NULL
);
CREATE INDEX consultations_status ON consultations (status, asked_at);
CREATE INDEX consultations_person ON consultations (person_id, asked_at);

-- Consultation numbers per China day, counted in the asking transaction.
CREATE TABLE consultation_counters (
    day   TEXT   PRIMARY KEY,                    -- YYYYMMDD
    last  BIGINT NOT NULL
);
