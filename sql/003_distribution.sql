-- 003_distribution.sql — keys distributed into AWS KMS, and every AWS key keymgmt made.
--
-- A distribution is a (provider, key) pair with its alias. Each key version becomes one
-- AWS KMS key, recorded in aws_keys *before* and after every AWS step, so that a crash
-- or an error at any point leaves a state that the same request, retried, completes:
--   nonce + create_attempted   a CreateKey may have happened: find the key by its tag
--   aws_key_id                 CreateKey answered
--   imported                   ImportKeyMaterial succeeded
--   enabled                    the last EnableKey/DisableKey applied
--   deletion_scheduled         ScheduleKeyDeletion succeeded (removal)
-- aws_keys rows are history too: they outlive the distribution (distribution_id is kept)
-- so reconciliation knows every key keymgmt ever created.

ALTER TABLE distributions
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    ADD COLUMN alias_name text,        -- "alias/<prefix><key>-<unix time>"
    ADD COLUMN alias_ts bigint,        -- the <unix time> part
    ADD COLUMN alias_target text,      -- AWS key id the alias points at; NULL: no alias
    ADD COLUMN removing boolean NOT NULL DEFAULT false;

CREATE TABLE aws_keys (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    distribution_id    bigint NOT NULL,
    provider_name      text NOT NULL,
    key_name           text NOT NULL,
    version            integer NOT NULL CHECK (version >= 1),
    region             text NOT NULL,
    nonce              text NOT NULL UNIQUE,
    create_attempted   boolean NOT NULL DEFAULT false,
    aws_key_id         text,
    aws_key_arn        text,
    imported           boolean NOT NULL DEFAULT false,
    enabled            boolean,
    deletion_scheduled boolean NOT NULL DEFAULT false,
    deletion_date      timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (distribution_id, version)   -- one AWS key per version of a distribution
);
CREATE INDEX aws_keys_provider ON aws_keys (provider_name);
CREATE UNIQUE INDEX aws_keys_aws_key_id ON aws_keys (region, aws_key_id);
