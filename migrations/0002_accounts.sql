-- Staff, bank and employer accounts, their roles, and server-side sessions.

CREATE TABLE accounts (
    id                    TEXT   PRIMARY KEY,
    username              TEXT   NOT NULL UNIQUE,
    display_name          TEXT   NOT NULL,
    password_hash         TEXT   NOT NULL,
    must_change_password  BIGINT NOT NULL,
    totp_secret_sealed    TEXT,
    bank_code             TEXT,
    employer_uscc         TEXT,
    disabled              BIGINT NOT NULL DEFAULT 0,
    failed_sign_ins       BIGINT NOT NULL DEFAULT 0,
    locked_until          TEXT,
    created_at            TEXT   NOT NULL,
    updated_at            TEXT   NOT NULL
);

CREATE TABLE account_roles (
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    role        TEXT NOT NULL,
    PRIMARY KEY (account_id, role)
);

-- A session is found by the SM3 hash of its token; the token itself is never stored.
CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    channel         TEXT NOT NULL,
    client_address  TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    revoked_at      TEXT
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Failed sign-ins per client address, for the per-address back-off.
CREATE TABLE sign_in_failures (
    client_address  TEXT NOT NULL,
    occurred_at     TEXT NOT NULL
);
CREATE INDEX sign_in_failures_address ON sign_in_failures (client_address, occurred_at);

-- Small named settings, e.g. the check value that ties the data key file to this database.
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
