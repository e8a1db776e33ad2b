-- The card registry: insured persons (参保人), their social security cards and
-- each card's state history. Portable DDL (TEXT and BIGINT only).
--
-- Personal data at rest (PIPL art. 28): the ID number, the mobile number, the
-- address and the bank account are sealed with SM4-GCM (`*_sealed`, associated
-- data "<table>.<column>:<row id>"); the ID number is found by its HMAC-SM3
-- blind index (`id_number_index`, purpose "person.id_number"); screens read
-- only the `*_masked` columns. Names are stored exactly as written (TEXT is
-- UTF-8 on both engines, so characters outside the BMP such as 𠈌 survive).

CREATE TABLE persons (
    id                TEXT PRIMARY KEY,
    id_number_index   TEXT NOT NULL UNIQUE,
    id_number_sealed  TEXT NOT NULL,
    id_number_masked  TEXT NOT NULL,
    name              TEXT NOT NULL,
    sex               TEXT NOT NULL,            -- male | female, from the ID number
    birth_date        TEXT NOT NULL,            -- YYYY-MM-DD, from the ID number
    mobile_sealed     TEXT,
    mobile_masked     TEXT,
    address_sealed    TEXT,
    address_masked    TEXT,
    employer_uscc     TEXT,
    enrolment_region  TEXT NOT NULL,            -- 行政区划代码, e.g. 450206
    enrolment_status  TEXT NOT NULL,            -- contributing | suspended | terminated
    enrolment_since   TEXT NOT NULL,            -- YYYY-MM-DD
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX persons_employer ON persons (employer_uscc);

-- The card number is printed on the card and used in URLs by the public
-- contract (GET /api/v1/cards/{card_number}); it is not sealed. The bank
-- account behind the financial application is.
CREATE TABLE cards (
    id                        TEXT PRIMARY KEY,
    card_number               TEXT NOT NULL UNIQUE,
    card_identification_code  TEXT NOT NULL UNIQUE,
    issuing_area_code         TEXT NOT NULL,
    spec_version              TEXT NOT NULL,
    issue_date                TEXT NOT NULL,    -- YYYY-MM-DD
    expiry_date               TEXT NOT NULL,    -- YYYY-MM-DD, valid through this day
    person_id                 TEXT NOT NULL REFERENCES persons (id),
    bank_code                 TEXT NOT NULL,
    bank_account_sealed       TEXT,
    bank_account_masked       TEXT,
    social_state              TEXT NOT NULL,    -- SocialSecurityState code
    financial_state           TEXT NOT NULL,    -- FinancialState code
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);
CREATE INDEX cards_person ON cards (person_id);
CREATE INDEX cards_bank ON cards (bank_code);

-- Every state change of either application, in order: when, what, why, by whom.
-- The first rows of a card (event `register`) have no from_state.
CREATE TABLE card_events (
    id            TEXT   PRIMARY KEY,
    card_id       TEXT   NOT NULL REFERENCES cards (id),
    seq           BIGINT NOT NULL,                -- 1, 2, … per card
    occurred_at   TEXT   NOT NULL,
    application   TEXT   NOT NULL,                -- social | financial
    from_state    TEXT,
    to_state      TEXT   NOT NULL,
    event         TEXT   NOT NULL,
    reason        TEXT,
    actor         TEXT   NOT NULL,                -- account:<uuid>, cli:<user>, system
    actor_role    TEXT   NOT NULL,
    UNIQUE (card_id, seq)
);
CREATE INDEX card_events_occurred_at ON card_events (occurred_at);
