/**
 * @module Numbered PostgreSQL migrations, applied in order inside one transaction each (under an
 * advisory lock, so two control planes starting together do not race) and recorded in
 * `schema_migrations`. Never edit a shipped migration: add the next number.
 */
import type { Migration } from './migration.js'

const counters = `count BIGINT NOT NULL,
  s1xx BIGINT NOT NULL, s2xx BIGINT NOT NULL, s3xx BIGINT NOT NULL, s4xx BIGINT NOT NULL, s5xx BIGINT NOT NULL,
  limited BIGINT NOT NULL, timeouts BIGINT NOT NULL, connect_errors BIGINT NOT NULL,
  bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL, sketch BYTEA NOT NULL`

const seriesTable = (name: string) => `CREATE TABLE ${name} (
  service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  start_ms BIGINT NOT NULL, duration_ms INTEGER NOT NULL, sources INTEGER NOT NULL,
  ${counters},
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (service, route, env, start_ms)
);
CREATE INDEX ${name}_start ON ${name} (start_ms);`

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'initial',
    sql: `
CREATE TABLE rollups_raw (
  gateway_id TEXT NOT NULL, service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  start_ms BIGINT NOT NULL, duration_ms INTEGER NOT NULL,
  ${counters},
  received_ms BIGINT NOT NULL,
  PRIMARY KEY (service, route, env, start_ms, gateway_id)
);
CREATE INDEX rollups_raw_start ON rollups_raw (start_ms);
${seriesTable('series_window')}
${seriesTable('series_1m')}
${seriesTable('series_1h')}
CREATE TABLE series_catalog (
  service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL,
  PRIMARY KEY (service, route, env)
);
CREATE TABLE downsample_dirty (
  resolution TEXT NOT NULL, bucket_ms BIGINT NOT NULL,
  service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  PRIMARY KEY (resolution, bucket_ms, service, route, env)
);
CREATE TABLE spans (
  trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT,
  service TEXT NOT NULL, env TEXT NOT NULL, route TEXT NOT NULL, name TEXT NOT NULL,
  kind SMALLINT NOT NULL, start_ms DOUBLE PRECISION NOT NULL, duration_ms DOUBLE PRECISION NOT NULL,
  status_code SMALLINT NOT NULL, http_status SMALLINT, request_id TEXT, source TEXT NOT NULL,
  attributes JSONB NOT NULL,
  PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX spans_request_id ON spans (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX spans_start ON spans (start_ms);
CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, kind TEXT NOT NULL,
  actor TEXT NOT NULL, subject TEXT NOT NULL, payload JSONB NOT NULL
);
CREATE INDEX events_at ON events (at_ms);
`,
  },
  {
    id: 2,
    name: 'actions',
    sql: `
CREATE TABLE fence (
  id INTEGER PRIMARY KEY CHECK (id = 1), token BIGINT NOT NULL
);
INSERT INTO fence (id, token) VALUES (1, 0);
CREATE TABLE actions (
  id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL, kind TEXT NOT NULL, policy TEXT NOT NULL,
  mode TEXT NOT NULL, target TEXT NOT NULL, before JSONB NOT NULL, after JSONB NOT NULL,
  reason TEXT NOT NULL, evidence JSONB NOT NULL, result JSONB NOT NULL, fencing_token BIGINT NOT NULL
);
CREATE INDEX actions_at ON actions (at_ms);
CREATE INDEX actions_policy ON actions (policy, at_ms);
CREATE INDEX actions_target ON actions (target, at_ms);
CREATE TABLE control_state (
  scope TEXT NOT NULL, key TEXT NOT NULL, data JSONB NOT NULL, updated_ms BIGINT NOT NULL,
  fencing_token BIGINT NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE TABLE silences (
  id TEXT PRIMARY KEY, matchers JSONB NOT NULL, starts_ms BIGINT NOT NULL, ends_ms BIGINT NOT NULL,
  created_by TEXT NOT NULL, comment TEXT NOT NULL, created_ms BIGINT NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_ms);
CREATE TABLE alert_acks (
  fingerprint TEXT NOT NULL, starts_ms BIGINT NOT NULL, by_name TEXT NOT NULL, comment TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  PRIMARY KEY (fingerprint, starts_ms)
);
CREATE INDEX alert_acks_at ON alert_acks (at_ms);
`,
  },
  {
    id: 3,
    name: 'audit',
    sql: `
CREATE TABLE audit (
  id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
  subject TEXT NOT NULL, before JSONB NOT NULL, after JSONB NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at_ms);
CREATE INDEX audit_actor ON audit (actor, at_ms);
CREATE INDEX audit_kind ON audit (kind, at_ms);
`,
  },
  {
    id: 4,
    name: 'journeys',
    // trace search by service, env and failure, newest first; the service graph's windows
    sql: `
CREATE TABLE graph_edges (
  start_ms BIGINT NOT NULL, duration_ms INTEGER NOT NULL, from_node TEXT NOT NULL, to_node TEXT NOT NULL,
  calls DOUBLE PRECISION NOT NULL, errors DOUBLE PRECISION NOT NULL, sketch BYTEA NOT NULL,
  PRIMARY KEY (start_ms, from_node, to_node)
);
CREATE INDEX spans_service_start ON spans (service, start_ms);
CREATE INDEX spans_env_start ON spans (env, start_ms);
CREATE INDEX spans_error_start ON spans (start_ms) WHERE status_code = 2 OR http_status >= 500;
`,
  },
  {
    id: 5,
    name: 'trace-search-service-errors',
    // a service's failed spans, newest first: without it a search for them walks every span of
    // the service in the range (1 in 50 failing: 132 ms in SQLite, 480 ms in PostgreSQL at 1 M spans)
    sql: `
CREATE INDEX spans_service_error_start ON spans (service, start_ms) WHERE status_code = 2 OR http_status >= 500;
`,
  },
  {
    id: 6,
    name: 'refused',
    // requests the gateway answered by itself (never sent upstream) and their 5xx; rows written
    // before this read 0, as a rollup from an older gateway does
    sql: ['rollups_raw', 'series_window', 'series_1m', 'series_1h']
      .map(
        (t) => `ALTER TABLE ${t} ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ${t} ADD COLUMN refused_5xx BIGINT NOT NULL DEFAULT 0;`,
      )
      .join('\n'),
  },
]
