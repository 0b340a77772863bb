-- 001_init.sql — tokens, sealed secrets, KMS providers, distributions.
--
-- Secrets are stored only as sealed blobs (AES-256-GCM under the seal key, which is
-- not in the database); tokens only as keyed hashes.

-- Server-wide secrets (the token hashing key), sealed with "secret:<name>" as associated data.
CREATE TABLE secrets (
    name       text PRIMARY KEY,
    sealed     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tokens (
    accessor     text PRIMARY KEY,
    hash         bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    policies     text[] NOT NULL,
    display_name text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz
);

CREATE TABLE providers (
    name           text PRIMARY KEY
                   CHECK (name ~ '^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$'),
    provider       text NOT NULL CHECK (provider IN ('awskms')),
    key_collection text NOT NULL CHECK (key_collection ~ '^[a-z]{2,4}(-[a-z]{2,5})?-[a-z]+-[1-9][0-9]?$'),
    credentials    bytea,            -- sealed JSON object, "provider:<name>" as associated data
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A key distributed to a provider. Rows here block deleting the provider.
CREATE TABLE distributions (
    provider_name text NOT NULL REFERENCES providers (name) ON DELETE RESTRICT,
    key_name      text NOT NULL,
    purpose       text[] NOT NULL,
    protection    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_name, key_name)
);
CREATE INDEX distributions_key_name ON distributions (key_name);
