-- The district hub on PostgreSQL (district/pg.rs): the same four collections as RedbHub.
-- Times are the RFC 3339 strings the redb hub stores, so both storages answer alike.
-- Keys compare bytewise (COLLATE "C") as redb's do: records_after pages by (kind, key).

CREATE TABLE hub_schools (
    code         text COLLATE "C" PRIMARY KEY,
    name         text   NOT NULL,
    public_key   text   NOT NULL,
    secret_hash  text   NOT NULL,
    enrolled_at  text   NOT NULL,
    last_seq     bigint NOT NULL DEFAULT 0,
    last_outbox  bigint NOT NULL DEFAULT 0,
    last_contact text,
    bytes        bigint NOT NULL DEFAULT 0,
    batches      bigint NOT NULL DEFAULT 0,
    records      bigint NOT NULL DEFAULT 0,
    backlog      bigint NOT NULL DEFAULT 0,
    -- The latest rejections, newest last, at most 20: [[when, why], …].
    errors       jsonb  NOT NULL DEFAULT '[]'
);

-- By BLAKE3 of the token.
CREATE TABLE hub_tokens (
    hash      text PRIMARY KEY,
    school    text NOT NULL,
    name      text NOT NULL,
    issued_at text NOT NULL,
    used_at   text
);

CREATE TABLE hub_receipts (
    school         text COLLATE "C" NOT NULL REFERENCES hub_schools (code),
    seq            bigint NOT NULL,
    first_outbox   bigint NOT NULL,
    last_outbox    bigint NOT NULL,
    entries        bigint NOT NULL,
    payload_blake3 text   NOT NULL,
    bytes          bigint NOT NULL,
    received_at    text   NOT NULL,
    PRIMARY KEY (school, seq)
);

-- The newest state of each relayed record per school.
CREATE TABLE hub_records (
    school     text COLLATE "C" NOT NULL REFERENCES hub_schools (code),
    kind       text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    op         text   NOT NULL,
    record     jsonb,
    outbox_seq bigint NOT NULL,
    at         text   NOT NULL,
    PRIMARY KEY (school, kind, key)
);
-- The statistics read one kind across every school.
CREATE INDEX hub_records_by_kind ON hub_records (kind);
