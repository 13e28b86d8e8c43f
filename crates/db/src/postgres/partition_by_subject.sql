-- Per-person tables hash-partitioned by the person's pseudonym, as Citus
-- distributes them (docs/scale.md): every row of one person lands in one
-- partition of each table, the same remainder in every table, so erasure,
-- access and consent reads touch one partition and a person's events and
-- analytic rows stay side by side. Catalogue tables stay plain.
--
-- 16 partitions: a power of two, so one partition can later be split in
-- two (modulus 32, remainders r and r + 16) without touching the others;
-- few enough that the queries naming no person (retention sweep, insight
-- scan, event scan by id) merge 16 index scans, not hundreds.
--
-- Each table: a partitioned copy under a new name, the rows copied, the
-- old table dropped, the copy renamed; secondary indexes are built after
-- the copy. The `event_ids` sequence is kept (it is not owned by a
-- table), so ids continue where they were.

CREATE TABLE subjects_new (
    subject TEXT COLLATE "C" NOT NULL,
    wrapped_data_key BYTEA NOT NULL,
    commitment_salt BYTEA NOT NULL,
    CONSTRAINT subjects_new_pkey PRIMARY KEY (subject)
) PARTITION BY HASH (subject);

CREATE TABLE consents_new (
    subject TEXT COLLATE "C" NOT NULL,
    record_id TEXT COLLATE "C" NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    source TEXT NOT NULL,
    at BIGINT NOT NULL,
    body BYTEA NOT NULL,
    CONSTRAINT consents_new_pkey PRIMARY KEY (subject, record_id)
) PARTITION BY HASH (subject);

CREATE TABLE events_new (
    subject TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL DEFAULT nextval('event_ids'),
    kind TEXT NOT NULL,
    item TEXT,
    purpose TEXT NOT NULL,
    at BIGINT NOT NULL,
    sealed_properties BYTEA NOT NULL,
    CONSTRAINT events_new_pkey PRIMARY KEY (subject, id)
) PARTITION BY HASH (subject);

CREATE TABLE interests_new (
    subject TEXT COLLATE "C" NOT NULL,
    category TEXT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    removed BOOLEAN NOT NULL,
    CONSTRAINT interests_new_pkey PRIMARY KEY (subject, category)
) PARTITION BY HASH (subject);

-- Its foreign key to events is added once both carry their final names
-- (below), so the constraints PostgreSQL clones per partition are named
-- after `insight_events`.
CREATE TABLE insight_events_new (
    subject TEXT COLLATE "C" NOT NULL,
    event_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    item TEXT,
    region TEXT,
    h3_cell BIGINT,
    value BIGINT,
    CONSTRAINT insight_events_new_pkey PRIMARY KEY (subject, event_id)
) PARTITION BY HASH (subject);

-- A device's sessions are that device's personal data, keyed by its own
-- pseudonym (a separate family from people's): partitioned by it, so an
-- opt-out deletes from one partition.
CREATE TABLE footfall_sessions_new (
    device TEXT COLLATE "C" NOT NULL,
    store_id TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    period BIGINT NOT NULL,
    randomized BOOLEAN NOT NULL,
    last_at BIGINT NOT NULL,
    max_rssi SMALLINT NOT NULL,
    sightings BIGINT NOT NULL,
    is_visit BOOLEAN NOT NULL,
    CONSTRAINT footfall_sessions_new_pkey PRIMARY KEY (device, store_id, first_at)
) PARTITION BY HASH (device);

DO $$
DECLARE
    t TEXT;
    r INT;
BEGIN
    FOREACH t IN ARRAY ARRAY['subjects', 'consents', 'events', 'interests',
                             'insight_events', 'footfall_sessions'] LOOP
        FOR r IN 0..15 LOOP
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                t || '_p' || lpad(r::TEXT, 2, '0'), t || '_new', r);
        END LOOP;
    END LOOP;
END
$$;

INSERT INTO subjects_new (subject, wrapped_data_key, commitment_salt)
    SELECT subject, wrapped_data_key, commitment_salt FROM subjects;
INSERT INTO consents_new (subject, record_id, purpose, state, policy_version, source, at, body)
    SELECT subject, record_id, purpose, state, policy_version, source, at, body FROM consents;
INSERT INTO events_new (subject, id, kind, item, purpose, at, sealed_properties)
    SELECT subject, id, kind, item, purpose, at, sealed_properties FROM events;
INSERT INTO interests_new (subject, category, weight, removed)
    SELECT subject, category, weight, removed FROM interests;
INSERT INTO insight_events_new (subject, event_id, kind, at, item, region, h3_cell, value)
    SELECT subject, event_id, kind, at, item, region, h3_cell, value FROM insight_events;
INSERT INTO footfall_sessions_new (device, store_id, first_at, period, randomized, last_at,
                                   max_rssi, sightings, is_visit)
    SELECT device, store_id, first_at, period, randomized, last_at, max_rssi, sightings, is_visit
    FROM footfall_sessions;

DROP TABLE insight_events;
DROP TABLE events;
DROP TABLE subjects;
DROP TABLE consents;
DROP TABLE interests;
DROP TABLE footfall_sessions;

ALTER TABLE subjects_new RENAME TO subjects;
ALTER TABLE subjects RENAME CONSTRAINT subjects_new_pkey TO subjects_pkey;
ALTER TABLE consents_new RENAME TO consents;
ALTER TABLE consents RENAME CONSTRAINT consents_new_pkey TO consents_pkey;
ALTER TABLE events_new RENAME TO events;
ALTER TABLE events RENAME CONSTRAINT events_new_pkey TO events_pkey;
ALTER TABLE interests_new RENAME TO interests;
ALTER TABLE interests RENAME CONSTRAINT interests_new_pkey TO interests_pkey;
ALTER TABLE insight_events_new RENAME TO insight_events;
ALTER TABLE insight_events RENAME CONSTRAINT insight_events_new_pkey TO insight_events_pkey;
ALTER TABLE footfall_sessions_new RENAME TO footfall_sessions;
ALTER TABLE footfall_sessions RENAME CONSTRAINT footfall_sessions_new_pkey
    TO footfall_sessions_pkey;

-- The foreign key includes the partition key: a person's analytic row
-- points at their event in the partition with the same remainder (and,
-- under Citus, in the co-located shard). Adding it checks every copied row.
ALTER TABLE insight_events ADD CONSTRAINT insight_events_subject_event_id_fkey
    FOREIGN KEY (subject, event_id) REFERENCES events (subject, id) ON DELETE CASCADE;

-- The same secondary indexes as before, now one per partition.
CREATE INDEX events_by_id ON events (id);
CREATE INDEX events_by_purpose_time ON events (purpose, at);
CREATE INDEX insight_events_by_kind_time ON insight_events (kind, at);
CREATE INDEX footfall_sessions_by_store ON footfall_sessions (store_id, first_at);
CREATE INDEX footfall_sessions_by_period ON footfall_sessions (period);

ANALYZE subjects, consents, events, interests, insight_events, footfall_sessions;
