-- Citizens (办事群众) sign in with their ID number, name and a one-time code
-- sent by SMS to the mobile number on record; the simulated SMS gateway's
-- outbox. Portable DDL (TEXT and BIGINT only).
--
-- (0004 and 0005 are reserved for the pages/hardening and import/demo work.)

-- One-time codes. The code itself is never stored: `code_hash` is the hex
-- HMAC-SM3 blind index under the index key, purpose "citizen.otp", of
-- "<person id>:<code id>:<code>". A person's newest code is the only one that
-- can sign in; it dies when used, after 5 wrong tries, or 5 minutes after
-- `created_at` (`expires_at`).
CREATE TABLE otp_codes (
    id              TEXT   PRIMARY KEY,
    person_id       TEXT   NOT NULL REFERENCES persons (id),
    code_hash       TEXT   NOT NULL,
    created_at      TEXT   NOT NULL,
    expires_at      TEXT   NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    used_at         TEXT,
    client_address  TEXT   NOT NULL
);
CREATE INDEX otp_codes_person ON otp_codes (person_id, created_at);

-- Code requests and failed citizen sign-ins per client address, for the
-- per-address limits (kind: otp_request | sign_in_failure). Rows older than a
-- day are pruned when the same address comes again.
CREATE TABLE citizen_attempts (
    client_address  TEXT NOT NULL,
    kind            TEXT NOT NULL,
    occurred_at     TEXT NOT NULL
);
CREATE INDEX citizen_attempts_address ON citizen_attempts (client_address, kind, occurred_at);

-- Citizen sessions, found by the SM3 hash of their token (tokens start with
-- "c_", staff tokens never do); the token itself is never stored.
CREATE TABLE citizen_sessions (
    token_hash      TEXT PRIMARY KEY,
    person_id       TEXT NOT NULL REFERENCES persons (id),
    client_address  TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    revoked_at      TEXT
);
CREATE INDEX citizen_sessions_person ON citizen_sessions (person_id);

-- The outbox of the simulated SMS gateway (installations without an SMS
-- provider): what would have been sent, for administrators in demo mode.
-- Number and text are sealed (associated data "sms_outbox.<column>:<id>");
-- rows older than a day are pruned on the next message.
CREATE TABLE sms_outbox (
    id             TEXT PRIMARY KEY,
    created_at     TEXT NOT NULL,
    mobile_masked  TEXT NOT NULL,
    mobile_sealed  TEXT NOT NULL,
    text_sealed    TEXT NOT NULL
);
CREATE INDEX sms_outbox_created ON sms_outbox (created_at);
