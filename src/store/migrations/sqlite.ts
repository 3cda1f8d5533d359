/**
 * @module Numbered SQLite migrations, applied in order inside one transaction each and recorded in
 * `schema_migrations`. Kept as TypeScript strings so `dist/` carries them. Never edit a shipped
 * migration: add the next number.
 */
import type { Migration } from './migration.js'

const counters = `count INTEGER NOT NULL,
  s1xx INTEGER NOT NULL, s2xx INTEGER NOT NULL, s3xx INTEGER NOT NULL, s4xx INTEGER NOT NULL, s5xx INTEGER NOT NULL,
  limited INTEGER NOT NULL, timeouts INTEGER NOT NULL, connect_errors INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, sketch BLOB NOT NULL`

const seriesTable = (name: string) => `CREATE TABLE ${name} (
  service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, sources INTEGER NOT NULL,
  ${counters},
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (service, route, env, start_ms)
) WITHOUT ROWID;
CREATE INDEX ${name}_start ON ${name} (start_ms);`

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'initial',
    sql: `
CREATE TABLE rollups_raw (
  gateway_id TEXT NOT NULL, service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
  ${counters},
  received_ms INTEGER NOT NULL,
  PRIMARY KEY (service, route, env, start_ms, gateway_id)
) WITHOUT ROWID;
CREATE INDEX rollups_raw_start ON rollups_raw (start_ms);
${seriesTable('series_window')}
${seriesTable('series_1m')}
${seriesTable('series_1h')}
CREATE TABLE series_catalog (
  service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
  PRIMARY KEY (service, route, env)
) WITHOUT ROWID;
CREATE TABLE downsample_dirty (
  resolution TEXT NOT NULL, bucket_ms INTEGER NOT NULL,
  service TEXT NOT NULL, route TEXT NOT NULL, env TEXT NOT NULL,
  PRIMARY KEY (resolution, bucket_ms, service, route, env)
) WITHOUT ROWID;
CREATE TABLE spans (
  trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT,
  service TEXT NOT NULL, env TEXT NOT NULL, route TEXT NOT NULL, name TEXT NOT NULL,
  kind INTEGER NOT NULL, start_ms REAL NOT NULL, duration_ms REAL NOT NULL,
  status_code INTEGER NOT NULL, http_status INTEGER, request_id TEXT, source TEXT NOT NULL,
  attributes TEXT NOT NULL,
  PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX spans_request_id ON spans (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX spans_start ON spans (start_ms);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, kind TEXT NOT NULL,
  actor TEXT NOT NULL, subject TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE INDEX events_at ON events (at_ms);
`,
  },
  {
    id: 2,
    name: 'actions',
    sql: `
CREATE TABLE fence (
  id INTEGER PRIMARY KEY CHECK (id = 1), token INTEGER NOT NULL
);
INSERT INTO fence (id, token) VALUES (1, 0);
CREATE TABLE actions (
  id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, kind TEXT NOT NULL, policy TEXT NOT NULL,
  mode TEXT NOT NULL, target TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
  reason TEXT NOT NULL, evidence TEXT NOT NULL, result TEXT NOT NULL, fencing_token INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX actions_at ON actions (at_ms);
CREATE INDEX actions_policy ON actions (policy, at_ms);
CREATE INDEX actions_target ON actions (target, at_ms);
CREATE TABLE control_state (
  scope TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, updated_ms INTEGER NOT NULL,
  fencing_token INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE TABLE silences (
  id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_ms INTEGER NOT NULL, ends_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL, comment TEXT NOT NULL, created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX silences_ends ON silences (ends_ms);
CREATE TABLE alert_acks (
  fingerprint TEXT NOT NULL, starts_ms INTEGER NOT NULL, by_name TEXT NOT NULL, comment TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  PRIMARY KEY (fingerprint, starts_ms)
) WITHOUT ROWID;
CREATE INDEX alert_acks_at ON alert_acks (at_ms);
`,
  },
  {
    id: 3,
    name: 'audit',
    sql: `
CREATE TABLE audit (
  id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
  subject TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL, reason TEXT NOT NULL
) WITHOUT ROWID;
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
  start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, from_node TEXT NOT NULL, to_node TEXT NOT NULL,
  calls REAL NOT NULL, errors REAL NOT NULL, sketch BLOB NOT NULL,
  PRIMARY KEY (start_ms, from_node, to_node)
) WITHOUT ROWID;
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
        (t) => `ALTER TABLE ${t} ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ${t} ADD COLUMN refused_5xx INTEGER NOT NULL DEFAULT 0;`,
      )
      .join('\n'),
  },
]
