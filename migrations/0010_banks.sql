-- Cooperating banks (合作银行) and the exchange with them (issue 7): the bank
-- registry with its BINs and API key, the replay store of signed API
-- requests, the bureau's key that signs the answers, and the batch files
-- both ways with what happened to each card. Portable DDL (TEXT and BIGINT
-- only; times RFC 3339 UTC text).

-- A cooperating bank. `api_public_key` is the SM2 public key (SPKI PEM) that
-- verifies the bank system's signed requests; `api_key_id` the first 16 hex
-- of the SM3 of its point, shown to compare keys by phone. Cards name their
-- bank by `cards.bank_code` (the same code).
CREATE TABLE banks (
    code            TEXT PRIMARY KEY,      -- e.g. ICBC
    name            TEXT NOT NULL,
    contact_name    TEXT NOT NULL,
    contact_phone   TEXT NOT NULL,
    api_public_key  TEXT,
    api_key_id      TEXT,
    status          TEXT NOT NULL,         -- active | suspended
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- The BIN prefixes (发卡行识别码) of each bank's social security card
-- accounts; a BIN belongs to one bank (no prefix of another: checked by the
-- service under the registry's lock).
CREATE TABLE bank_bins (
    bin        TEXT PRIMARY KEY,
    bank_code  TEXT NOT NULL REFERENCES banks (code)
);
CREATE INDEX bank_bins_bank ON bank_bins (bank_code);

-- Nonces of signed requests, so a request is accepted once: the primary key
-- refuses a second insert on every node sharing the database. A nonce is
-- kept until its request's timestamp leaves the accepted clock skew; later
-- the stale timestamp refuses a replay anyway and the row is pruned.
CREATE TABLE bank_nonces (
    bank_code   TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (bank_code, nonce)
);
CREATE INDEX bank_nonces_expires ON bank_nonces (expires_at);

-- The bureau's SM2 keys that sign answers to banks. Every key that ever
-- signed stays (a bank may check an old answer). The generated key is the
-- one row with generated_slot = 'generated' (UNIQUE: two nodes starting at
-- once keep one); its secret scalar is sealed with the data key (associated
-- data "bank_keys.private_key_sealed:<id>"). A key from a configured PEM
-- file is recorded with its public key only.
CREATE TABLE bank_keys (
    id                  TEXT PRIMARY KEY,    -- first 16 hex of SM3(public point)
    public_key          TEXT NOT NULL,       -- SEC1 uncompressed point, hex
    source              TEXT NOT NULL,       -- generated | file
    generated_slot      TEXT UNIQUE,
    private_key_sealed  TEXT,
    created_at          TEXT NOT NULL
);

-- Batch files: `export` (bureau → bank, personal data of new cards) and
-- `return` (bank → bureau, accepted accounts and rejections). An export
-- batch lists its cards in bank_batch_cards before its file is written, so
-- an interrupted export is redone from the list and a card is in one export
-- batch only. A return batch is recorded with the SM3 of its body, so the
-- same file imported again changes nothing and another file under the same
-- number is refused.
CREATE TABLE bank_batches (
    id               TEXT   PRIMARY KEY,     -- UUID
    batch_no         TEXT   NOT NULL,        -- as in the file header
    bank_code        TEXT   NOT NULL REFERENCES banks (code),
    kind             TEXT   NOT NULL,        -- export | return
    state            TEXT   NOT NULL,        -- export: claiming | claimed | written; return: applying | applied
    record_count     BIGINT NOT NULL,
    body_sm3         TEXT,                   -- of the last file written / the imported file
    answers_batch    TEXT,                   -- return: the export batch number it answers
    accepted         BIGINT NOT NULL,
    rejected         BIGINT NOT NULL,
    refused          BIGINT NOT NULL,        -- return records not applied (see the report)
    sends            BIGINT NOT NULL,        -- export: files written (1 + re-sends)
    created_at       TEXT   NOT NULL,
    created_by       TEXT   NOT NULL,
    completed_at     TEXT,
    UNIQUE (bank_code, kind, batch_no)
);
CREATE INDEX bank_batches_state ON bank_batches (bank_code, kind, state);

CREATE TABLE bank_batch_cards (
    batch_id  TEXT   NOT NULL REFERENCES bank_batches (id),
    seq       BIGINT NOT NULL,                -- 1, 2, … the record number in the file
    card_id   TEXT   NOT NULL REFERENCES cards (id),
    PRIMARY KEY (batch_id, seq),
    UNIQUE (batch_id, card_id)
);

-- Where each card stands with its bank: sent in which export batch, and what
-- the bank answered (accepted: the account is on the card; rejected: the
-- bank's reason code and text, for staff to follow up). One row per card, so
-- a card is exported once. `account_index` is the HMAC-SM3 blind index
-- (purpose "card.bank_account") of an account set by a return file, so one
-- account cannot land on two cards.
CREATE TABLE bank_card_exchange (
    card_id          TEXT PRIMARY KEY REFERENCES cards (id),
    bank_code        TEXT NOT NULL,
    export_batch_id  TEXT NOT NULL REFERENCES bank_batches (id),
    exported_at      TEXT NOT NULL,
    status           TEXT NOT NULL,          -- exported | accepted | rejected
    return_batch_id  TEXT REFERENCES bank_batches (id),
    returned_at      TEXT,
    rejection_code   TEXT,
    rejection_text   TEXT,
    account_index    TEXT UNIQUE
);
CREATE INDEX bank_card_exchange_status ON bank_card_exchange (bank_code, status);

-- The export pages through one bank's cards in card-number order.
CREATE INDEX cards_bank_number ON cards (bank_code, card_number);
