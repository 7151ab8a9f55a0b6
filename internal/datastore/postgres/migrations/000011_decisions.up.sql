-- The decision log: permission decisions the server answered, written in batches by
-- the decision log's writer and deleted after its retention. Reads go newest first
-- per tenant (the primary key) or by subject (the second index).
CREATE TABLE decisions (
    tenant TEXT COLLATE "C" NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    seq BIGSERIAL NOT NULL,
    principal TEXT NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    permission TEXT COLLATE "C" NOT NULL,
    subject_type TEXT COLLATE "C" NOT NULL,
    subject_id TEXT COLLATE "C" NOT NULL,
    subject_relation TEXT COLLATE "C" NOT NULL,
    result TEXT NOT NULL,
    results INT NOT NULL,
    revision BIGINT NOT NULL,
    path TEXT[],
    PRIMARY KEY (tenant, decided_at, seq)
);

CREATE INDEX decisions_by_subject ON decisions (tenant, subject_type, subject_id, decided_at);
CREATE INDEX decisions_by_time ON decisions (decided_at);
