// Gateway benchmark: the same upstream and the same load generator (autocannon, in this process)
// against the upstream directly, three Node.js proxies (@fastify/http-proxy, fast-proxy,
// http-proxy), Vigil (routing, telemetry and access log on) and nginx when installed.
// Interleaved rounds: every round measures every target once, in a rotated order, so drift in
// the machine's load hits all targets alike. With two or more cores and taskset, the proxy under
// test runs pinned to CPU 0, and the upstream and autocannon to CPU 1 (see bench/README.md).
//
//   npm run bench -- gateway
//   BENCH_ROUNDS=5 BENCH_DURATION_S=10 BENCH_RATE=2000 npm run bench -- gateway
//   BENCH_RATE_HIGH=0 npm run bench -- gateway   (skips the second, high fixed-rate point)
//   BENCH_TARGETS=vigil BENCH_BASELINE=/path/to/built/checkout npm run bench -- gateway   (before/after)
//
// Writes the table to stdout and the raw figures to bench/out/gateway-<timestamp>.json.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SELF = fileURLToPath(import.meta.url)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BODY = JSON.stringify({ ok: true, service: 'bench', items: [1, 2, 3] })
const BENCH_KEY = 'bench-client-key'

let PIN = false
// USER_HZ: the unit of /proc/PID/stat times
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100

// ---- child roles: each listens on port 0 and prints `PORT <n>` ----------------------------------

async function runRole(name, upstream) {
  const announce = (port) => process.stdout.write(`PORT ${port}\n`)
  const stopOn = (close) => {
    const stop = async () => {
      await close()
      process.exit(0)
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  }
  if (name === 'upstream') {
    const server = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) })
        res.end(BODY)
      })
    })
    server.keepAliveTimeout = 65_000
    server.listen(0, '127.0.0.1', () => announce(server.address().port))
    stopOn(() => new Promise((r) => server.close(r)))
    return
  }
  if (name === 'fastify-http-proxy') {
    const { default: Fastify } = await import('fastify')
    const { default: proxy } = await import('@fastify/http-proxy')
    const app = Fastify({ logger: false })
    await app.register(proxy, { upstream })
    await app.listen({ port: 0, host: '127.0.0.1' })
    announce(app.server.address().port)
    stopOn(() => app.close())
    return
  }
  if (name === 'fast-proxy') {
    const { default: fastProxy } = await import('fast-proxy')
    const { proxy, close } = fastProxy({ base: upstream, keepAliveMsecs: 10_000, maxSockets: 256 })
    const server = http.createServer((req, res) => proxy(req, res, req.url, {}))
    server.keepAliveTimeout = 65_000
    server.listen(0, '127.0.0.1', () => announce(server.address().port))
    stopOn(async () => {
      close()
      await new Promise((r) => server.close(r))
    })
    return
  }
  if (name === 'http-proxy') {
    const { default: httpProxy } = await import('http-proxy')
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
    const proxy = httpProxy.createProxyServer({ target: upstream, agent })
    proxy.on('error', (_err, _req, res) => {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    })
    const server = http.createServer((req, res) => proxy.web(req, res))
    server.keepAliveTimeout = 65_000
    server.listen(0, '127.0.0.1', () => announce(server.address().port))
    stopOn(() => new Promise((r) => server.close(r)))
    return
  }
  throw new Error(`unknown role ${name}`)
}

// ---- orchestration ----------------------------------------------------------------------------

/** CPU ms (user + system, all threads) of `pid` and its live child processes, from /proc; null where /proc is missing. */
function cpuMs(pid) {
  try {
    const ticks = (p) => {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')
      return Number(f[11]) + Number(f[12])
    }
    let t = ticks(pid)
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    for (const c of children === '' ? [] : children.split(' ')) t += ticks(c)
    return (t * 1000) / CLK_TCK
  } catch {
    return null
  }
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0
}

function pinned(cpu, argv) {
  return PIN ? ['taskset', ['-c', String(cpu), ...argv]] : [argv[0], argv.slice(1)]
}

/**
 * Vigil as users run it: the `vigil` bin (so with the node flags of its shebang), `vigil gateway`
 * for the data plane or `vigil start` for the embedded form, on a config with every feature on:
 * routing through the route table, rate limits (every request carries a client key charged to its
 * token bucket, in a tier far above the load), the access log on every request (to a file, sampleRate 1),
 * telemetry capture (rollups with latency sketches, tail-sampled spans) published to the bus.
 * `vigil gateway` uses the memory bus here (nobody consumes it; its backlog is bounded), so the
 * bench needs nothing outside the checkout; `vigil start` adds the control-plane worker (SQLite,
 * detection, forecasting), which shares the process and so the pinned core.
 */
function startVigil(name, cpu, upstream, root = ROOT) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'))
  const config = join(dir, 'vigil.yaml')
  writeFileSync(
    config,
    [
      'gateway:',
      '  host: 127.0.0.1',
      '  port: 0',
      '  accessLog:',
      '    sampleRate: 1',
      `    destination: ${join(dir, 'access.log')}`,
      'admin:',
      '  port: 0',
      '  token: bench',
      // a client key in a tier far above the load: every request is identified and charged to
      // its token bucket, none is refused
      'limits:',
      '  enabled: true',
      `  dataDir: ${dir}`,
      '  tiers:',
      '    BENCH: { ratePerSec: 10000000, burst: 10000000 }',
      '  keys:',
      `    - { id: bench-client, key: ${BENCH_KEY}, tier: BENCH }`,
      'telemetry:',
      `  enabled: ${name !== 'vigil-no-telemetry'}`,
      '  otlp:',
      '    port: 0',
      'store:',
      '  kind: sqlite',
      `  path: ${join(dir, 'vigil.db')}`,
      'services:',
      '  upstream:',
      `    targets: [${upstream}]`,
      'routes:',
      '  - path: /',
      '    service: upstream',
      '',
    ].join('\n'),
  )
  const command = name === 'vigil-embedded' ? 'start' : 'gateway'
  // The CLI logs JSON lines to stderr; the gateway's URL is in the `gateway listening` line.
  const listening = (out) => /"url":"http:\/\/[^"]*:(\d+)"[^\n]*"msg":"gateway listening"/.exec(out)
  return startChild(
    name,
    cpu,
    [join(root, 'bin', 'vigil.js'), command, '--config', config],
    listening,
    'stderr',
  ).then((c) => ({ ...c, dir }))
}

function startChild(name, cpu, argv, listening = (out) => /PORT (\d+)/.exec(out), from = 'stdout') {
  const [cmd, args] = pinned(cpu, argv)
  const child = spawn(cmd, args, {
    stdio: ['ignore', from === 'stdout' ? 'pipe' : 'inherit', from === 'stderr' ? 'pipe' : 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s`)), 30_000)
    child[from].on('data', (c) => {
      // Vigil logs JSON lines: pass on warnings and errors (level ≥ 40), drop the rest
      if (from === 'stderr')
        for (const line of c.toString().split('\n')) if (/"level":[4-6]\d/.test(line)) console.error(line)
      if (out === null) return
      out += c.toString()
      const m = listening(out)
      if (m) {
        out = null
        clearTimeout(timer)
        resolve({ name, child, url: `http://127.0.0.1:${m[1]}` })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code} before listening`))
    })
  })
}

function stopChild(c) {
  return new Promise((resolve) => {
    if (c.child.exitCode !== null) return resolve()
    const t = setTimeout(() => c.child.kill('SIGKILL'), 5000)
    c.child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    c.child.kill('SIGTERM')
  })
}

async function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function startNginx(upstream) {
  const bin = have('nginx') ? 'nginx' : have('/usr/sbin/nginx') ? '/usr/sbin/nginx' : null
  if (bin === null) return null
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-nginx-'))
  const port = await freePort()
  const u = new URL(upstream)
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream up { server ${u.host}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
  )
  const [cmd, args] = pinned(0, [bin, '-p', dir, '-c', join(dir, 'nginx.conf')])
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100))
    const ok = await new Promise((resolve) => {
      http
        .get(`${url}/`, (res) => {
          res.resume()
          resolve(res.statusCode === 200)
        })
        .on('error', () => resolve(false))
    })
    if (ok) return { name: 'nginx', child, url, dir }
  }
  child.kill('SIGKILL')
  return null
}

async function cannon(url, opts) {
  const { default: autocannon } = await import('autocannon')
  // every target gets the client's API key; the peers forward it, Vigil's limiter checks it
  const r = await autocannon({
    url: `${url}/bench/item`,
    pipelining: 1,
    headers: { 'x-api-key': BENCH_KEY },
    ...opts,
  })
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    // autocannon's percentiles are whole milliseconds; the mean keeps the sub-millisecond part
    mean: r.latency.average,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    total: r.requests.total,
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

async function main() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  const durationS = Number(process.env.BENCH_DURATION_S ?? 8)
  const warmupS = Number(process.env.BENCH_WARMUP_S ?? 2)
  const prewarmS = Number(process.env.BENCH_PREWARM_S ?? 30)
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
  const rate = Number(process.env.BENCH_RATE ?? 1000)
  // A second fixed rate near the peers' saturation (below every target's on a quiet machine), so
  // the tails are compared at the same high load rather than each at its own saturation.
  const highRate = Number(process.env.BENCH_RATE_HIGH ?? 10_000)
  const cores = Math.max(availableParallelism(), cpus().length)
  // Pinning needs CPUs 0 and 1 in this process's affinity mask; `taskset -c 0,1 true` checks both.
  PIN =
    process.env.BENCH_NO_PIN !== '1' &&
    have('taskset') &&
    spawnSync('taskset', ['-c', '0,1', 'true']).status === 0 &&
    cpus().length >= 2
  if (PIN && process.env.BENCH_PINNED !== '1') {
    // Re-run this orchestrator (and so autocannon) on CPU 1, next to the upstream.
    const r = spawnSync('taskset', ['-c', '1', process.execPath, SELF], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_PINNED: '1' },
    })
    process.exit(r.status ?? 1)
  }

  const started = new Date()
  const machine = `${cores} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
  const loadBefore = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
  console.log(`gateway bench ${started.toISOString()} · ${machine} · load average ${loadBefore}`)
  console.log(
    `pinning: ${PIN ? 'proxy on CPU 0; upstream + autocannon on CPU 1' : 'none (taskset missing or < 2 cores)'} · ` +
      `JIT warm-up ${prewarmS} s per target, then ${rounds} rounds × ${durationS} s (warm-up ${warmupS} s), ${connections} connections; fixed rate ${rate} req/s (10 connections)${highRate > 0 ? ` and ${highRate} req/s (${connections} connections)` : ''}`,
  )

  const upstream = await startChild('upstream', 1, [process.execPath, SELF, '--role', 'upstream'])
  const targets = [{ name: 'upstream direct', url: upstream.url, proc: null }]
  const procs = [upstream]
  const LABELS = {
    vigil: 'Vigil data plane (routing + limits + telemetry + access log)',
    'vigil-no-telemetry': 'Vigil data plane, telemetry off',
    'vigil-embedded': 'Vigil embedded (+ control plane on the same core)',
  }
  const ROLES = [
    'fastify-http-proxy',
    'fast-proxy',
    'http-proxy',
    'vigil',
    'vigil-no-telemetry',
    'vigil-embedded',
  ]
  const only = process.env.BENCH_TARGETS?.split(',').map((x) => x.trim())
  for (const name of ROLES.filter((r) => only === undefined || only.includes(r))) {
    try {
      const p = name.startsWith('vigil')
        ? await startVigil(name, 0, upstream.url)
        : await startChild(name, 0, [process.execPath, SELF, '--role', name, upstream.url])
      procs.push(p)
      targets.push({ name: LABELS[name] ?? name, url: p.url, pid: p.child.pid })
    } catch (err) {
      console.log(`skip ${name}: ${err.message}`)
    }
  }
  // Before/after in one run: BENCH_BASELINE=<another built checkout> adds its `vigil gateway`
  // (same config) as a row of its own.
  const baseline = process.env.BENCH_BASELINE
  if (baseline !== undefined && baseline !== '') {
    const p = await startVigil('vigil', 0, upstream.url, baseline)
    procs.push(p)
    targets.push({ name: `Vigil data plane, baseline ${baseline}`, url: p.url, pid: p.child.pid })
  }
  const nginx = only === undefined || only.includes('nginx') ? await startNginx(upstream.url) : null
  if (nginx !== null) targets.push({ name: 'nginx (1 worker)', url: nginx.url, pid: nginx.child.pid })
  else if (only === undefined || only.includes('nginx'))
    console.log('skip nginx: not installed (apt-get install -y nginx)')

  const results = Object.fromEntries(targets.map((t) => [t.name, { load: [], fixed: [], high: [] }]))
  try {
    for (const t of targets) {
      // Check the path works and warm up connections and JITs before the first round.
      const check = await cannon(t.url, { connections: 4, amount: 200 })
      if (check.non2xx > 0 || check.errors > 0)
        console.log(
          `warning: ${t.name} answered ${check.non2xx} non-2xx, ${check.errors} errors in the check`,
        )
    }
    if (prewarmS > 0) {
      // JIT warm-up: a Node.js proxy keeps getting faster for tens of seconds under load while
      // its hot functions are optimised (Vigil's larger hot path takes longer than a bare
      // pass-through). Every target gets the same dose once, before the first round.
      for (const t of targets) await cannon(t.url, { connections, duration: prewarmS })
    }
    for (let round = 0; round < rounds; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length])
      for (const t of order) {
        if (warmupS > 0) await cannon(t.url, { connections, duration: warmupS })
        const cpu0 = t.pid === undefined ? null : cpuMs(t.pid)
        const load = await cannon(t.url, { connections, duration: durationS })
        const cpu1 = t.pid === undefined ? null : cpuMs(t.pid)
        // CPU per request of the proxy process: less sensitive to the machine's other work than req/s
        load.cpuUsPerReq = cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) * 1000) / load.total
        const fixed = await cannon(t.url, {
          connections: 10,
          duration: Math.max(3, Math.round(durationS / 2)),
          overallRate: rate,
        })
        const high =
          highRate > 0
            ? await cannon(t.url, {
                connections,
                duration: Math.max(3, Math.round(durationS / 2)),
                overallRate: highRate,
              })
            : null
        results[t.name].load.push(load)
        results[t.name].fixed.push(fixed)
        if (high !== null) results[t.name].high.push(high)
        console.log(
          `round ${round + 1} ${t.name.padEnd(52)} ${load.rps.toFixed(0).padStart(7)} req/s  p50 ${load.p50} ms  p99 ${load.p99} ms` +
            (load.cpuUsPerReq == null ? '' : `  ${load.cpuUsPerReq.toFixed(1)} CPU µs/req`) +
            `  | at ${rate}/s p50 ${fixed.p50} ms p99 ${fixed.p99} ms` +
            (high === null
              ? ''
              : `  | at ${highRate}/s: ${high.rps.toFixed(0)}/s p50 ${high.p50} ms p99 ${high.p99} ms`) +
            `${load.non2xx + load.errors > 0 ? `  (non-2xx ${load.non2xx}, errors ${load.errors})` : ''}`,
        )
      }
    }
  } finally {
    await Promise.all(procs.map(stopChild))
    for (const p of procs) if (p.dir !== undefined) rmSync(p.dir, { recursive: true, force: true })
    if (nginx !== null) {
      nginx.child.kill('SIGTERM')
      rmSync(nginx.dir, { recursive: true, force: true })
    }
  }

  const directFixedP50 = median(results['upstream direct'].fixed.map((r) => r.p50))
  const directFixedMean = median(results['upstream direct'].fixed.map((r) => r.mean))
  const rows = targets.map((t) => {
    const r = results[t.name]
    const fixedP50 = median(r.fixed.map((x) => x.p50))
    return {
      target: t.name,
      rps: median(r.load.map((x) => x.rps)),
      rpsRange: [Math.min(...r.load.map((x) => x.rps)), Math.max(...r.load.map((x) => x.rps))],
      p50: median(r.load.map((x) => x.p50)),
      p99: median(r.load.map((x) => x.p99)),
      cpuUsPerReq: r.load.some((x) => x.cpuUsPerReq == null)
        ? null
        : median(r.load.map((x) => x.cpuUsPerReq)),
      fixedP50,
      fixedP99: median(r.fixed.map((x) => x.p99)),
      fixedMean: median(r.fixed.map((x) => x.mean)),
      fixedRps: median(r.fixed.map((x) => x.rps)),
      addedP50: t.name === 'upstream direct' ? 0 : fixedP50 - directFixedP50,
      highRps: r.high.length === 0 ? null : median(r.high.map((x) => x.rps)),
      highP50: r.high.length === 0 ? null : median(r.high.map((x) => x.p50)),
      highP99: r.high.length === 0 ? null : median(r.high.map((x) => x.p99)),
      non2xx: r.load.reduce((a, x) => a + x.non2xx + x.errors, 0),
    }
  })
  const highCols = highRate > 0
  console.log(
    `\n| target | req/s (median, min–max over ${rounds} rounds) | p50 ms | p99 ms | proxy CPU µs/req | at ${rate} req/s: achieved | p50 ms | mean ms | p99 ms | added p50 (mean) vs direct, ms |` +
      (highCols ? ` at ${highRate} req/s: achieved | p50 ms | p99 ms |` : ''),
  )
  console.log(`|---|---|---|---|---|---|---|---|---|---|${highCols ? '---|---|---|' : ''}`)
  for (const r of rows) {
    console.log(
      `| ${r.target} | ${r.rps.toFixed(0)} (${r.rpsRange[0].toFixed(0)}–${r.rpsRange[1].toFixed(0)}) | ${r.p50} | ${r.p99} | ${r.cpuUsPerReq == null ? '—' : r.cpuUsPerReq.toFixed(1)} | ${r.fixedRps.toFixed(0)} | ${r.fixedP50} | ${r.fixedMean.toFixed(2)} | ${r.fixedP99} | ${r.target === 'upstream direct' ? '—' : `${r.addedP50.toFixed(0)} (${(r.fixedMean - directFixedMean).toFixed(2)})`} |` +
        (highCols ? ` ${r.highRps.toFixed(0)} | ${r.highP50} | ${r.highP99} |` : '') +
        `${r.non2xx > 0 ? ` ⚠ ${r.non2xx} non-2xx/errors` : ''}`,
    )
  }
  const loadAfter = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
  console.log(`\nload average before ${loadBefore}, after ${loadAfter} (other work on the machine)`)
  const outDir = join(ROOT, 'bench', 'out')
  mkdirSync(outDir, { recursive: true })
  const file = join(outDir, `gateway-${started.toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(
    file,
    JSON.stringify(
      {
        started,
        machine,
        loadBefore,
        loadAfter,
        pinned: PIN,
        rounds,
        prewarmS,
        durationS,
        connections,
        rate,
        highRate,
        rows,
        results,
      },
      null,
      2,
    ),
  )
  console.log(`\nraw figures: ${file}`)
}

const role = process.argv[2] === '--role' ? process.argv[3] : null
if (role !== null) await runRole(role, process.argv[4])
else await main()
