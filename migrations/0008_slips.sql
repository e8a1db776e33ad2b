-- 业务反馈单 (business feedback slips): one per ended case, issued on the
-- first request after the case ended and never changed afterwards, and the
-- SM2 keys that sign them. Portable DDL (TEXT and BIGINT only).
--
-- The slip's PDF is in the blob store under the slip's id, sealed like the
-- uploads (associated data "blob:<slip id>"), so every download returns the
-- same bytes. What the slip certifies is kept as canonical JSON with masked
-- identifiers only; the signature covers that JSON and the SM3 of the PDF.

-- Every key that ever signed a slip stays here, so a slip signed before the
-- key changed (say, from the generated key to a production key file) still
-- verifies. The generated key is the one row with generated_slot =
-- 'generated' (UNIQUE: two nodes starting at once keep one); its private key
-- is sealed with the data key (associated data
-- "slip_keys.private_key_sealed:<id>"). A key from a configured PEM file is
-- recorded with its public key only.
CREATE TABLE slip_keys (
    id                  TEXT   PRIMARY KEY,      -- first 16 hex of SM3(public key)
    public_key          TEXT   NOT NULL,         -- SEC1 uncompressed point, hex
    source              TEXT   NOT NULL,         -- generated | file
    generated_slot      TEXT   UNIQUE,           -- 'generated' for the generated key, else NULL
    private_key_sealed  TEXT,                    -- generated key only: the secret scalar, sealed
    created_at          TEXT   NOT NULL
);

CREATE TABLE slips (
    id                 TEXT   PRIMARY KEY,       -- UUID; the blob id of the PDF
    case_id            TEXT   NOT NULL UNIQUE REFERENCES cases (id),
    application_no     TEXT   NOT NULL,
    verification_code  TEXT   NOT NULL UNIQUE,   -- 16 Crockford base32 characters, random
    content            TEXT   NOT NULL,          -- canonical JSON of what it certifies (masked)
    pdf_sm3            TEXT   NOT NULL,          -- SM3 of the PDF bytes, hex
    pdf_size           BIGINT NOT NULL,
    key_id             TEXT   NOT NULL REFERENCES slip_keys (id),
    signature          TEXT   NOT NULL,          -- SM2 r ‖ s, hex
    issued_at          TEXT   NOT NULL,
    issued_by          TEXT   NOT NULL           -- the actor whose request issued it
);
CREATE INDEX slips_pdf_sm3 ON slips (pdf_sm3);
