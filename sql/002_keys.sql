-- 002_keys.sql — named keys and their versions.
--
-- Material is stored only sealed, with "key:<name>:<version>" as associated data, so a
-- row copied to another key or version fails to open. Versions are consecutive: the
-- database refuses a duplicate (primary key), a version that is not the key's new
-- latest_version, a latest_version that jumps, and a commit that leaves latest_version
-- without its material.

CREATE TABLE keys (
    name                text PRIMARY KEY
                        CHECK (name ~ '^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$'),
    type                text NOT NULL CHECK (type IN ('aes256-gcm96', 'rsa-2048', 'rsa-3072',
                        'rsa-4096', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521')),
    deletion_allowed    boolean NOT NULL DEFAULT false,
    min_enabled_version integer NOT NULL DEFAULT 0,
    latest_version      integer NOT NULL DEFAULT 1 CHECK (latest_version >= 1),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (min_enabled_version BETWEEN 0 AND latest_version)
);

CREATE TABLE key_versions (
    key_name   text NOT NULL REFERENCES keys (name) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version >= 1),
    material   bytea NOT NULL,
    public_key text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (key_name, version)
);

CREATE FUNCTION keys_version_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.latest_version NOT IN (OLD.latest_version, OLD.latest_version + 1) THEN
        RAISE EXCEPTION 'latest_version of key % may only grow by one', NEW.name
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER keys_version_step BEFORE UPDATE OF latest_version ON keys
    FOR EACH ROW EXECUTE FUNCTION keys_version_step();

CREATE FUNCTION key_versions_is_latest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM keys WHERE name = NEW.key_name
                   AND latest_version = NEW.version) THEN
        RAISE EXCEPTION 'version % of key % is not its latest version', NEW.version, NEW.key_name
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER key_versions_is_latest BEFORE INSERT ON key_versions
    FOR EACH ROW EXECUTE FUNCTION key_versions_is_latest();

CREATE FUNCTION keys_latest_has_material() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM keys WHERE name = NEW.name) AND NOT EXISTS
       (SELECT 1 FROM key_versions WHERE key_name = NEW.name AND version = NEW.latest_version) THEN
        RAISE EXCEPTION 'key % has no material for version %', NEW.name, NEW.latest_version
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER keys_latest_has_material AFTER INSERT OR UPDATE OF latest_version ON keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION keys_latest_has_material();

ALTER TABLE distributions
    ADD CONSTRAINT distributions_key_name_fkey FOREIGN KEY (key_name)
    REFERENCES keys (name) ON DELETE RESTRICT;
