/**
 * The deploy kit (deploy/) validated as far as this machine allows (no Docker engine, no cluster):
 * every YAML parses; the config loader accepts every example and the configs that compose and the
 * Kubernetes ConfigMap mount; those configs really start `vigil gateway` and `vigil control`
 * against the local Redis, NATS and PostgreSQL, and every metric (and label) the Grafana dashboard
 * and the Prometheus rules name is one their /metrics serve; promtool checks the Prometheus config
 * and rules and runs the rules' unit tests; the compose file, the manifests and the Dockerfile
 * refer only to what exists.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { loadConfig } from '../src/config/index.js'
import { startMockService, type MockService } from '../src/sim/index.js'
import { PostgresStore } from '../src/store/index.js'
import { debianToolAvailable } from './helpers/apt.js'
import { serviceAvailable } from './helpers/services.js'
import { buildOnce, exitOf, root, spawnVigil, type Spawned } from './integration/control-support.js'

const deploy = join(root, 'deploy')
const read = (path: string) => readFileSync(join(root, path), 'utf8')
const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const PROMTOOL = '/usr/bin/promtool'

function filesUnder(dir: string, match: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return filesUnder(path, match)
    return match.test(name) ? [path] : []
  })
}

/** Every document of a YAML file; a syntax error or warning fails with the file's name. */
function yamlDocs(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true })
  if (!Array.isArray(docs)) return []
  for (const d of docs)
    if (d.errors.length > 0 || d.warnings.length > 0)
      throw new Error(
        `${relative(root, path)}: ${[...d.errors, ...d.warnings].map((e) => e.message).join('; ')}`,
      )
  return docs.map((d) => d.toJS() as unknown)
}

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {})
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

/** `${VAR}` / `${VAR:-default}` substitutions of a config text: name → has a default. */
function configVars(text: string): Map<string, boolean> {
  const vars = new Map<string, boolean>()
  for (const m of text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g))
    vars.set(m[1], (vars.get(m[1]) ?? false) || m[2] !== undefined)
  return vars
}

// ---- PromQL: which metrics and labels an expression names --------------------------------------

const FUNCTIONS = new Set(
  (
    'abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min count ' +
    'count_over_time count_values delta deriv exp floor group histogram_quantile holt_winters idelta ' +
    'increase irate label_join label_replace last_over_time ln log10 log2 max max_over_time min ' +
    'min_over_time predict_linear quantile quantile_over_time rate resets round scalar sgn sort ' +
    'sort_desc sqrt stddev stdvar sum sum_over_time time timestamp topk vector'
  ).split(' '),
)
// `group_left` / `group_right` without a label list (those with one are stripped with it)
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'group_left', 'group_right'])
/** Labels Prometheus adds at scrape time (the scrape configs in deploy/prometheus). */
const TARGET_LABELS = new Set(['job', 'instance', 'component', 'namespace', 'pod'])
/** Series Prometheus makes itself. */
const PROMETHEUS_SERIES: Record<string, string[]> = {
  up: [],
  ALERTS: [
    'alertname',
    'alertstate',
    'severity',
    'service',
    'tier',
    'target',
    'route',
    'env',
    'metric',
    'sink',
  ],
}

interface Exported {
  /** metric name → label names seen on its samples or declared by it */
  labels: Map<string, Set<string>>
}

interface Named {
  metrics: string[]
  functions: string[]
  /** [metric or null, label] used in a selector */
  matchers: [string | null, string][]
  /** labels of by / without / on / ignoring / group_* clauses */
  grouping: string[]
}

/** The metrics, functions and labels a PromQL expression (with Grafana variables) names. */
function promqlNames(expr: string): Named {
  const out: Named = { metrics: [], functions: [], matchers: [], grouping: [] }
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
  s = s.replace(/([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}/g, (_m, name: string | undefined, body: string) => {
    for (const lm of body.matchAll(/([A-Za-z_][\w]*)\s*(=~|!~|!=|=)/g))
      out.matchers.push([name ?? null, lm[1]])
    return name ?? ''
  })
  s = s.replace(/\[[^\]]*\]/g, '')
  s = s.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_m, _k, list: string) => {
      out.grouping.push(
        ...list
          .split(',')
          .map((l) => l.trim())
          .filter((l) => l !== ''),
      )
      return ' '
    },
  )
  s = s.replace(/\$\{?[\w]+\}?/g, ' ').replace(/\b\d+(\.\d+)?(e[+-]?\d+)?[smhdwy]?\b/gi, ' ')
  for (const m of s.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const rest = s.slice((m.index ?? 0) + m[0].length).trimStart()
    if (rest.startsWith('(')) out.functions.push(m[0])
    else if (!KEYWORDS.has(m[0].toLowerCase())) out.metrics.push(m[0])
  }
  return out
}

/** Problems of one expression against what Vigil exports, plus recording rules' labels. */
function promqlProblems(expr: string, exported: Exported, recorded: Map<string, Set<string>>): string[] {
  const n = promqlNames(expr)
  const problems: string[] = []
  const labelsOf = (metric: string): Set<string> | null =>
    exported.labels.get(metric) ??
    recorded.get(metric) ??
    (PROMETHEUS_SERIES[metric] !== undefined ? new Set(PROMETHEUS_SERIES[metric]) : null)
  for (const f of n.functions) if (!FUNCTIONS.has(f)) problems.push(`unknown function ${f}()`)
  if (n.metrics.length === 0) problems.push('names no metric')
  const inExpr = new Set<string>(TARGET_LABELS)
  for (const m of n.metrics) {
    const labels = labelsOf(m)
    if (labels === null) problems.push(`${m} is not a metric Vigil exports`)
    else for (const l of labels) inExpr.add(l)
    if (m.endsWith('_bucket')) inExpr.add('le')
  }
  for (const [metric, label] of n.matchers) {
    if (metric === null || label === '__name__') continue
    const labels = labelsOf(metric)
    if (labels !== null && !labels.has(label) && !TARGET_LABELS.has(label))
      problems.push(`${metric} has no label ${label} (it has ${[...labels].join(', ') || 'none'})`)
  }
  for (const label of n.grouping)
    if (!inExpr.has(label)) problems.push(`no metric of the expression has the label ${label}`)
  return problems
}

/** Metric names and label names of a Prometheus text exposition. */
function parseExposition(text: string, into: Exported): void {
  const add = (name: string, labels: Iterable<string> = []) => {
    const set = into.labels.get(name) ?? new Set<string>()
    for (const l of labels) set.add(l)
    into.labels.set(name, set)
  }
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line)
    if (type !== null) {
      add(type[1])
      if (type[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) add(type[1] + suffix)
      if (type[2] === 'summary') for (const suffix of ['_sum', '_count']) add(type[1] + suffix)
      continue
    }
    const sample = /^([A-Za-z_:][\w:]*)(\{([^}]*)\})?\s/.exec(line)
    if (sample !== null)
      add(
        sample[1],
        [...(sample[3] ?? '').matchAll(/([A-Za-z_]\w*)="/g)].map((m) => m[1]),
      )
  }
}

/** Label names declared by prom-client metrics that had no sample in the scrape (findings not yet made). */
async function declaredLabels(into: Exported): Promise<void> {
  await import('../src/api/control-metrics.js')
  await import('../src/alerts/metrics.js')
  await import('../src/limits/metrics.js')
  await import('../src/telemetry/metrics.js')
  // the gateway's per-route metrics are created with the first route; this one stays in-process
  const { RouteMetrics } = await import('../src/gateway/metrics.js')
  new RouteMetrics('deploy-test-labels', 'deploy-test')
  const { registry } = await import('../src/metrics.js')
  for (const m of registry.getMetricsAsArray()) {
    const { name, labelNames } = m as unknown as { name: string; labelNames?: string[] }
    const set = into.labels.get(name)
    if (set !== undefined && set.size === 0) for (const l of labelNames ?? []) set.add(l)
  }
}

// ---- the dashboard's and the rules' expressions ------------------------------------------------

interface Expr {
  where: string
  expr: string
}

function grafanaExprs(dashboard: Obj): Expr[] {
  const out: Expr[] = []
  const walk = (panels: unknown[]) => {
    for (const p of panels.map(obj)) {
      for (const t of arr(p.targets).map(obj))
        if (typeof t.expr === 'string') out.push({ where: `panel "${String(p.title)}"`, expr: t.expr })
      walk(arr(p.panels))
    }
  }
  walk(arr(dashboard.panels))
  for (const v of arr(obj(dashboard.templating).list).map(obj)) {
    const q = typeof v.query === 'string' ? v.query : obj(v.query).query
    const m = typeof q === 'string' ? /^label_values\((\w+),/.exec(q) : null
    if (m !== null) out.push({ where: `variable $${String(v.name)}`, expr: m[1] })
  }
  for (const a of arr(obj(dashboard.annotations).list).map(obj))
    if (typeof a.expr === 'string') out.push({ where: `annotation "${String(a.name)}"`, expr: a.expr })
  return out
}

function ruleExprs(rules: Obj): { exprs: Expr[]; recorded: Map<string, Set<string>> } {
  const exprs: Expr[] = []
  const recorded = new Map<string, Set<string>>()
  for (const g of arr(rules.groups).map(obj))
    for (const r of arr(g.rules).map(obj)) {
      const expr = String(r.expr)
      exprs.push({ where: `rule ${String(r.alert ?? r.record)}`, expr })
      if (typeof r.record === 'string') recorded.set(r.record, new Set(promqlNames(expr).grouping))
    }
  return { exprs, recorded }
}

/** Grafana's variables replaced so promtool can parse the expression. */
const forPromtool = (expr: string) =>
  expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, '.*')

const dashboard = obj(JSON.parse(read('deploy/grafana/vigil.json')))
const rulesFile = obj(parse(read('deploy/prometheus/rules.yml')))

describe('deploy kit: files', () => {
  it('every YAML file of the kit and the examples parses', () => {
    const files = [...filesUnder(deploy, /\.ya?ml$/), ...filesUnder(join(root, 'examples'), /\.ya?ml$/)]
    expect(files.length).toBeGreaterThanOrEqual(15)
    for (const f of files) expect(yamlDocs(f).length, relative(root, f)).toBeGreaterThan(0)
  })

  it('the config loader accepts every example, and the configs compose and the ConfigMap mount', () => {
    const env = { UPSTREAM_URL: 'http://127.0.0.1:9001' }
    for (const f of filesUnder(join(root, 'examples'), /\.ya?ml$/))
      expect(() => loadConfig(f, env), f).not.toThrow()
    const configMap = (yamlDocs(join(deploy, 'kubernetes/configmap.yaml'))[0] ?? {}) as Obj
    const dir = mkdtempSync(join(tmpdir(), 'vigil-deploy-'))
    try {
      for (const name of ['gateway.yaml', 'control.yaml']) {
        const file = join(deploy, 'config', name)
        const config = loadConfig(file, {})
        expect(Object.keys(config.services)).toEqual(['app'])
        const mounted = obj(configMap.data)[name]
        expect(
          mounted,
          `configmap.yaml differs from deploy/config/${name}: run node deploy/kubernetes/sync-configmap.mjs`,
        ).toBe(readFileSync(file, 'utf8'))
        writeFileSync(join(dir, name), String(mounted))
        expect(() => loadConfig(join(dir, name), {})).not.toThrow()
      }
      // alert rules and budgets name the gateways' routes: both files keep the same route table
      const routes = (name: string) =>
        loadConfig(join(deploy, 'config', name), {}).routes.map((r) => [r.name, r.path])
      expect(routes('control.yaml')).toEqual(routes('gateway.yaml'))
      // `vigil check-config` itself, once, on the built CLI
      buildOnce()
      const r = spawnSync(
        process.execPath,
        [join(root, 'bin/vigil.js'), 'check-config', join(deploy, 'config/control.yaml')],
        {
          encoding: 'utf8',
        },
      )
      expect(r.stdout + r.stderr).toContain('OK (1 service, 3 routes)')
      expect(r.status).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('compose runs two gateways and two control planes from the kit, with every variable their configs need', () => {
    const compose = obj(yamlDocs(join(deploy, 'compose.yaml'))[0])
    const services = obj(compose.services)
    for (const s of ['redis', 'nats', 'postgres', 'prometheus', 'grafana', 'app'])
      expect(Object.keys(services)).toContain(s)
    const vigil = Object.entries(services).filter(([, s]) => obj(s).image === 'vigil:local')
    const role = (s: Obj) => String(arr(s.command)[0])
    expect(vigil.filter(([, s]) => role(obj(s)) === 'gateway')).toHaveLength(2)
    expect(vigil.filter(([, s]) => role(obj(s)) === 'control')).toHaveLength(2)
    expect(String(arr(obj(services.nats).command))).toContain('--jetstream')
    for (const [name, raw] of Object.entries(services)) {
      const s = obj(raw)
      const build = obj(s.build)
      if (s.build !== undefined)
        expect(read(join('deploy', String(build.context), String(build.dockerfile)))).toContain('FROM')
      // every bind mount names a file of the kit
      for (const v of arr(s.volumes).map(String))
        if (v.startsWith('./'))
          expect(() => statSync(join(deploy, v.split(':')[0])), `${name}: ${v}`).not.toThrow()
      if (role(s) !== 'gateway' && role(s) !== 'control') continue
      const command = arr(s.command).map(String)
      const configPath = command[command.indexOf('--config') + 1]
      const mount = arr(s.volumes)
        .map(String)
        .find((v) => v.split(':')[1] === configPath)
      expect(mount, `${name} mounts ${configPath}`).toBeDefined()
      const vars = configVars(readFileSync(join(deploy, mount!.split(':')[0]), 'utf8'))
      const env = obj(s.environment)
      for (const [v, hasDefault] of vars)
        if (!hasDefault) expect(Object.keys(env), `${name} sets ${v}`).toContain(v)
      for (const v of Object.keys(env))
        expect(v === 'VIGIL_ADMIN_TOKEN' || vars.has(v), `${name}: ${v} is read by its config`).toBe(true)
      expect(String(env.VIGIL_ADMIN_TOKEN)).toMatch(/^\$\{VIGIL_ADMIN_TOKEN:\?/)
    }
    // Prometheus scrapes the admin ports the configs listen on
    const prom = obj(parse(read('deploy/prometheus/prometheus.yml')))
    const targets = arr(prom.scrape_configs).flatMap((j) =>
      arr(obj(j).static_configs).flatMap((c) => arr(obj(c).targets)),
    )
    expect(targets).toEqual(['gateway-1:8081', 'gateway-2:8081', 'control-1:8082', 'control-2:8082'])
    expect(String(obj(obj(services['control-1']).environment).ADMIN_PORT)).toBe('8082')
  })

  it('the Kubernetes manifests refer only to what they define, and grant what the kubernetes actuator calls', () => {
    const docs = filesUnder(join(deploy, 'kubernetes'), /\.yaml$/)
      .filter((f) => !f.endsWith('kustomization.yaml'))
      .flatMap((f) => yamlDocs(f).map(obj))
    const kustomization = obj(parse(read('deploy/kubernetes/kustomization.yaml')))
    expect([...arr(kustomization.resources)].sort()).toEqual(
      readdirSync(join(deploy, 'kubernetes'))
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .sort(),
    )
    const named = (kind: string) =>
      new Set(docs.filter((d) => d.kind === kind).map((d) => String(obj(d.metadata).name)))
    for (const d of docs) {
      expect(typeof d.apiVersion, JSON.stringify(d.metadata)).toBe('string')
      if (d.kind !== 'Namespace') expect(obj(d.metadata).namespace).toBe('vigil')
    }
    const deployments = docs.filter((d) => d.kind === 'Deployment')
    expect([...named('Deployment')].sort()).toEqual(['vigil-control', 'vigil-gateway'])
    for (const d of deployments) {
      const spec = obj(d.spec)
      const template = obj(spec.template)
      const labels = obj(obj(template.metadata).labels)
      for (const [k, v] of Object.entries(obj(obj(spec.selector).matchLabels))) expect(labels[k]).toBe(v)
      const pod = obj(template.spec)
      expect(named('ServiceAccount')).toContain(pod.serviceAccountName)
      expect(obj(pod.securityContext).runAsNonRoot).toBe(true)
      const annotations = obj(obj(template.metadata).annotations)
      expect(annotations['prometheus.io/scrape']).toBe('true')
      for (const c of arr(pod.containers).map(obj)) {
        const ports = arr(c.ports).map(obj)
        const admin = ports.find((p) => p.name === 'admin')
        expect(String(admin?.containerPort)).toBe(annotations['prometheus.io/port'])
        const env = Object.fromEntries(arr(c.env).map((e) => [obj(e).name, obj(e).value]))
        expect(String(env.ADMIN_PORT)).toBe(String(admin?.containerPort))
        expect(obj(obj(c.readinessProbe).httpGet)).toEqual({ path: '/ready', port: 'admin' })
        expect(obj(obj(c.livenessProbe).httpGet)).toEqual({ path: '/health', port: 'admin' })
        const args = arr(c.args).map(String)
        const config = args[args.indexOf('--config') + 1]
        const mount = arr(c.volumeMounts)
          .map(obj)
          .find((m) => config.startsWith(`${String(m.mountPath)}/`))
        const volume = arr(pod.volumes)
          .map(obj)
          .find((v) => v.name === mount?.name)
        const map = String(obj(volume?.configMap).name)
        expect(named('ConfigMap')).toContain(map)
        const data = obj(docs.find((d) => d.kind === 'ConfigMap' && obj(d.metadata).name === map)?.data)
        expect(Object.keys(data)).toContain(config.split('/').pop())
        const vars = configVars(String(data[config.split('/').pop()!]))
        const secretEnv = arr(c.envFrom).map((e) => String(obj(obj(e).secretRef).name))
        const secretKeys = new Set(
          docs
            .filter((d) => d.kind === 'Secret' && secretEnv.includes(String(obj(d.metadata).name)))
            .flatMap((d) => Object.keys(obj(d.stringData))),
        )
        for (const e of arr(c.env).map(obj)) {
          const ref = obj(obj(e.valueFrom).secretKeyRef)
          if (ref.name !== undefined) expect(named('Secret')).toContain(ref.name)
          expect(vars.has(String(e.name)), `${String(e.name)} is read by ${config}`).toBe(true)
        }
        expect([...secretKeys]).toContain('VIGIL_ADMIN_TOKEN')
      }
    }
    for (const svc of docs.filter((d) => d.kind === 'Service')) {
      const selector = obj(obj(svc.spec).selector)
      const target = deployments.find((d) =>
        Object.entries(selector).every(
          ([k, v]) => obj(obj(obj(obj(d.spec).template).metadata).labels)[k] === v,
        ),
      )
      expect(target, `Service ${String(obj(svc.metadata).name)} selects a Deployment`).toBeDefined()
      const containerPorts = arr(obj(obj(obj(target!.spec).template).spec).containers).flatMap((c) =>
        arr(obj(c).ports).map((p) => obj(p).name),
      )
      for (const p of arr(obj(svc.spec).ports).map(obj)) expect(containerPorts).toContain(p.targetPort)
    }
    const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler')
    expect(named('Deployment')).toContain(obj(obj(hpa?.spec).scaleTargetRef).name)
    // the actuator reads and patches deployments/scale, patches and reads deployments, lists pods
    const role = docs.find((d) => d.kind === 'Role')
    const grants = (resource: string) =>
      arr(role?.rules)
        .map(obj)
        .filter((r) => arr(r.resources).includes(resource))
        .flatMap((r) => arr(r.verbs))
    expect(grants('deployments/scale')).toEqual(expect.arrayContaining(['get', 'patch']))
    expect(grants('deployments')).toEqual(expect.arrayContaining(['get', 'patch']))
    expect(grants('pods')).toContain('list')
    const binding = obj(docs.find((d) => d.kind === 'RoleBinding'))
    expect(obj(binding.roleRef).name).toBe(obj(role?.metadata).name)
    expect(named('ServiceAccount')).toContain(obj(arr(binding.subjects)[0]).name)
  })

  it('the Dockerfile builds in stages, runs as a non-root user and checks the health endpoint', () => {
    const text = read('deploy/Dockerfile')
    const lines = text.split('\n').filter((l) => !l.trimStart().startsWith('#'))
    const froms = lines.filter((l) => /^FROM\s/.test(l))
    expect(froms.length).toBeGreaterThanOrEqual(2)
    expect(text).toMatch(/ARG NODE_IMAGE=node:(20|22)[\w.-]*-slim/)
    expect(lines.join('\n')).toMatch(/RUN npm ci\b/)
    expect(lines.join('\n')).toMatch(/npm run build/)
    const users = lines.filter((l) => /^USER\s/.test(l)).map((l) => l.split(/\s+/)[1])
    expect(users.length).toBeGreaterThan(0)
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/)
    const health = lines.join('\n').match(/HEALTHCHECK[^\n]*\\?\n?[^\n]*CMD[^\n]*/)?.[0] ?? ''
    expect(health).toContain('/health')
    // every path the image copies from the build context exists
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const src of m[1].split(/\s+/).filter((p) => !p.startsWith('--')))
        expect(() => statSync(join(root, src)), `COPY ${src}`).not.toThrow()
  })

  it("the image's pruned dependencies are enough: dist/ imports only dependencies and Node builtins", async () => {
    buildOnce()
    const { builtinModules } = await import('node:module')
    const pkg = JSON.parse(read('package.json')) as {
      dependencies: Record<string, string>
      optionalDependencies?: Record<string, string>
    }
    // npm prune --omit=dev keeps optional dependencies (TensorFlow.js, loaded only for the LSTM)
    const allowed = new Set([
      ...Object.keys(pkg.dependencies),
      ...Object.keys(pkg.optionalDependencies ?? {}),
      ...builtinModules,
    ])
    const used = new Set<string>()
    for (const f of filesUnder(join(root, 'dist'), /\.js$/)) {
      if (f.startsWith(join(root, 'dist/ui'))) continue // bundled by Vite
      const text = readFileSync(f, 'utf8')
      const specs = [
        // an import clause holds no quotes or parentheses: the match cannot run on into code
        // such as `export function f(q) { … timeParam('from', …`
        ...text.matchAll(/^\s*(?:import|export)\b[^;'"()]*?\bfrom\s*['"]([^'"]+)['"]/gm),
        ...text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
        ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].filter((m) => !m[1].startsWith('.'))
      for (const m of specs) {
        const spec = m[1].replace(/^node:/, '')
        used.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0])
      }
    }
    expect(used.size).toBeGreaterThan(10)
    expect([...used].filter((u) => !allowed.has(u))).toEqual([])
  })

  it('catches a misspelt metric, a misspelt label and an unknown function', () => {
    const exported: Exported = {
      labels: new Map([
        ['vigil_gateway_requests_total', new Set(['route', 'service', 'method', 'status_class'])],
        ['vigil_gateway_request_duration_seconds_bucket', new Set(['route', 'service', 'le'])],
      ]),
    }
    const none = new Map<string, Set<string>>()
    const ok =
      'histogram_quantile(0.95, sum by (le) (rate(vigil_gateway_request_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))'
    expect(promqlProblems(ok, exported, none)).toEqual([])
    const manyToOne =
      'sum by (route, service) (rate(vigil_gateway_requests_total[5m])) / on (service) group_left sum by (service) (rate(vigil_gateway_requests_total[5m]))'
    expect(promqlProblems(manyToOne, exported, none)).toEqual([])
    expect(promqlProblems('sum(rate(vigil_gateway_request_total[5m]))', exported, none)).toEqual([
      'vigil_gateway_request_total is not a metric Vigil exports',
    ])
    expect(
      promqlProblems('sum(rate(vigil_gateway_requests_total{status="5xx"}[5m]))', exported, none)[0],
    ).toMatch(/has no label status/)
    expect(promqlProblems('sum by (tier) (rate(vigil_gateway_requests_total[5m]))', exported, none)).toEqual([
      'no metric of the expression has the label tier',
    ])
    expect(promqlProblems('sum(rat(vigil_gateway_requests_total[5m]))', exported, none)).toEqual([
      'unknown function rat()',
    ])
  })
})

const up =
  (await serviceAvailable('redis')) &&
  (await serviceAvailable('nats')) &&
  (await serviceAvailable('postgres'))

describe.skipIf(!up)(
  'deploy kit: against a running gateway and control plane started from deploy/config',
  () => {
    const run = randomBytes(4).toString('hex')
    const schema = `vigil_deploy_${run}`
    const streamPrefix = `VIGILTEST_DEPLOY_${run}`
    const exported: Exported = { labels: new Map() }
    const procs: Spawned[] = []
    let mock: MockService
    let dir: string
    const admins = { control: '', gateway: '' }

    beforeAll(async () => {
      buildOnce()
      mock = await startMockService({ name: 'app' })
      dir = mkdtempSync(join(tmpdir(), 'vigil-deploy-'))
      const env = {
        GATEWAY_PORT: '0',
        ADMIN_PORT: '0',
        OTLP_PORT: '0',
        ADMIN_HOST: '127.0.0.1',
        APP_URL: mock.url,
        NATS_SERVERS: '127.0.0.1:4222',
        REDIS_URL: 'redis://127.0.0.1:6379',
        DATABASE_URL: PG_URL,
        VIGIL_PG_SCHEMA: schema,
        VIGIL_BUS_SUBJECT: `vigiltest.deploy${run}`,
        VIGIL_BUS_STREAM: streamPrefix,
        VIGIL_REDIS_PREFIX: `vigiltest:deploy:${run}:`,
        VIGIL_DATA: dir,
        VIGIL_ADMIN_TOKEN: 'deploy-test-token',
      }
      const control = spawnVigil(['control', '--config', join(deploy, 'config/control.yaml')], env)
      const gateway = spawnVigil(['gateway', '--config', join(deploy, 'config/gateway.yaml')], env)
      procs.push(control, gateway)
      const [controlAdmin, gatewayUrl, gatewayAdmin] = await Promise.all([
        control.waitFor(/"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil control ready"/),
        gateway.waitFor(/"gatewayUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/),
        gateway.waitFor(/"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/),
      ])
      Object.assign(admins, { control: controlAdmin, gateway: gatewayAdmin })
      // a request on each route, so the per-route metrics have samples
      for (const path of ['/api/browse/x', '/api/payment-gateway', '/api/orders', '/nowhere']) {
        const res = await fetch(`${gatewayUrl}${path}`)
        await res.arrayBuffer()
      }
      for (const url of [gatewayAdmin, controlAdmin]) {
        const res = await fetch(`${url}/metrics`) // no token: reads are open
        expect(res.status).toBe(200)
        parseExposition(await res.text(), exported)
      }
      await declaredLabels(exported)
    }, 60_000)

    afterAll(async () => {
      for (const p of procs)
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM')
      await Promise.all(procs.map((p) => exitOf(p.child)))
      await mock?.close()
      const nc = await connect({ servers: '127.0.0.1:4222' })
      const jsm = await jetstreamManager(nc)
      for (const s of ['ROLLUPS', 'SPANS', 'CLIENTS', 'AUDIT'])
        await jsm.streams.delete(`${streamPrefix}_${s}`).catch(() => false)
      await (await new Kvm(nc).open(`${streamPrefix}_LEADER`)).destroy().catch(() => false)
      await nc.close()
      const store = await PostgresStore.open({ url: PG_URL, schema })
      await store.dropSchema()
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    })

    it("the route table is the gateway's; the control plane points there rather than answering an empty one", async () => {
      const routes = (await (await fetch(`${admins.gateway}/api/routes`)).json()) as { routes: unknown[] }
      expect(routes.routes).toHaveLength(3)
      for (const path of ['/api/routes', '/api/services']) {
        const res = await fetch(`${admins.control}${path}`)
        expect(res.status).toBe(404)
        expect(await res.json()).toMatchObject({
          code: 'VGL_ERR_API_NO_GATEWAY',
          message: expect.stringContaining(`GET ${path}: vigil control runs no gateway`),
          fix: expect.stringContaining("a gateway's admin API"),
        })
      }
    })

    it('the scrapes carry the gateway, limiter and control-plane metrics, with samples for the route served', () => {
      for (const name of [
        'vigil_gateway_requests_total',
        'vigil_gateway_request_duration_seconds_bucket',
        'vigil_limits_decisions_total',
        'vigil_anomalies_open',
        'vigil_forecast_requests_per_second',
        'vigil_scale_replicas_max',
        'vigil_alerts',
        'vigil_process_cpu_seconds_total',
      ])
        expect([...exported.labels.keys()]).toContain(name)
      expect([...exported.labels.get('vigil_gateway_requests_total')!]).toEqual(
        expect.arrayContaining(['route', 'service', 'status_class']),
      )
    })

    it('every expression of the Grafana dashboard names only metrics and labels Vigil exports', () => {
      const exprs = grafanaExprs(dashboard)
      expect(exprs.length).toBeGreaterThanOrEqual(30)
      const { recorded } = ruleExprs(rulesFile)
      const problems = exprs.flatMap((e) =>
        promqlProblems(e.expr, exported, recorded).map((p) => `${e.where}: ${p}`),
      )
      expect(problems).toEqual([])
      // what the kit promises to chart
      const text = exprs.map((e) => e.expr).join('\n')
      for (const m of [
        'vigil_gateway_requests_total',
        'vigil_gateway_request_duration_seconds_bucket',
        'vigil_limits_decisions_total',
        'vigil_anomalies_open',
        'vigil_forecast_requests_per_second',
        'vigil_scale_replicas',
        'vigil_alerts',
      ])
        expect(text).toContain(m)
    })

    it('every expression of the Prometheus rules names only metrics and labels Vigil exports', () => {
      const { exprs, recorded } = ruleExprs(rulesFile)
      expect(exprs.length).toBeGreaterThanOrEqual(15)
      const problems = exprs.flatMap((e) =>
        promqlProblems(e.expr, exported, recorded).map((p) => `${e.where}: ${p}`),
      )
      expect(problems).toEqual([])
    })
  },
)

const promtool = debianToolAvailable('prometheus', PROMTOOL, 'the promtool checks')

describe.skipIf(!promtool)('deploy kit: promtool', () => {
  const promtoolRun = (...args: string[]) => {
    const r = spawnSync(PROMTOOL, args, { cwd: root, encoding: 'utf8', timeout: 30_000 })
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` }
  }

  it('checks the scrape config and the rules, and runs the rules unit tests', () => {
    for (const args of [
      ['check', 'config', 'deploy/prometheus/prometheus.yml'],
      ['check', 'rules', 'deploy/prometheus/rules.yml'],
      ['test', 'rules', 'deploy/prometheus/rules.test.yml'],
    ]) {
      const r = promtoolRun(...args)
      expect(r.out, args.join(' ')).toContain('SUCCESS')
      expect(r.ok, r.out).toBe(true)
    }
  })

  it('parses every expression of the Grafana dashboard (as recording rules), and fails a broken one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-promtool-'))
    try {
      const asRules = (exprs: string[]) =>
        JSON.stringify({
          groups: [
            {
              name: 'grafana',
              rules: exprs.map((expr, i) => ({ record: `grafana:expr_${i}`, expr: forPromtool(expr) })),
            },
          ],
        })
      writeFileSync(join(dir, 'grafana.yml'), asRules(grafanaExprs(dashboard).map((e) => e.expr)))
      const good = promtoolRun('check', 'rules', join(dir, 'grafana.yml'))
      expect(good.ok, good.out).toBe(true)
      writeFileSync(join(dir, 'broken.yml'), asRules(['sum(rate(vigil_gateway_requests_total[5m])']))
      expect(promtoolRun('check', 'rules', join(dir, 'broken.yml')).ok).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
