-- idem lock toolkit schema, version 1. Placeholder: ${schema}.

-- One row per elected role. The epoch grows by one with every new leadership and is the fencing
-- token: writes guarded by it are refused once a newer leader exists.
CREATE TABLE IF NOT EXISTS ${schema}.leader_epochs (
    namespace  text        NOT NULL,
    name       text        NOT NULL,
    epoch      bigint      NOT NULL,
    holder     text        NOT NULL,
    elected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, name)
);

-- "At most once per window" jobs: the start of the last window a job ran in.
CREATE TABLE IF NOT EXISTS ${schema}.job_windows (
    job_name     text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    ran_at       timestamptz NOT NULL DEFAULT now(),
    holder       text        NOT NULL
);

-- Every idem script records its own version, whichever tool runs it (idem at start, Flyway,
-- Liquibase, psql): idem's start-up check reads it when it does not apply the scripts itself.
CREATE TABLE IF NOT EXISTS ${schema}.idem_schema_version (
    script_set  text        NOT NULL,
    version     integer     NOT NULL,
    description text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (script_set, version)
);
INSERT INTO ${schema}.idem_schema_version (script_set, version, description)
VALUES ('locks', 1, 'leader epochs and job windows')
ON CONFLICT DO NOTHING;
