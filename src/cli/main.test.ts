import { spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { runCli as vigil } from '../../test/helpers/cli.js'

afterEach(() => vi.restoreAllMocks())

const COMMANDS = [
  'check-config',
  'start',
  'gateway',
  'control',
  'demo',
  'mock',
  'load',
  'detect',
  'forecast',
  'simulate',
  'eval',
]

describe('help', () => {
  it('--help and -h print the command usage on stdout and exit 0, for every command', async () => {
    for (const name of COMMANDS)
      for (const flag of ['--help', '-h']) {
        const r = await vigil(name, flag)
        expect({ name, flag, code: r.code, err: r.err }).toEqual({ name, flag, code: 0, err: '' })
        expect(r.out).toMatch(new RegExp(`^usage: vigil ${name}\\b`))
        // the same text as `vigil help NAME`
        expect(r.out).toBe((await vigil('help', name)).out)
      }
  })

  it('--help anywhere among the flags wins over missing or bad ones, but not after --', async () => {
    const r = await vigil('detect', '--input', 'nothing.csv', '--detector', 'nope', '--help')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^usage: vigil detect/)
    const positional = await vigil('check-config', '--', '--help')
    expect(positional.code).toBe(1)
    expect(positional.out).toBe('')
    expect(positional.err).toMatch(/--help/)
  })

  it('simulate --help lists the kinds and eval --help the suites; a named one shows its own options', async () => {
    expect((await vigil('simulate', '--help')).out).toMatch(/Kinds: alerts, autoscale, policy\./)
    expect((await vigil('eval', '-h')).out).toMatch(/Suites: detect, forecast\./)
    expect((await vigil('simulate', 'autoscale', '--help')).out).toMatch(
      /^usage: vigil simulate autoscale --input/,
    )
    expect((await vigil('simulate', '-h', 'autoscale')).out).toMatch(/^usage: vigil simulate autoscale/)
    expect((await vigil('eval', 'forecast', '--help')).out).toMatch(/^usage: vigil eval forecast/)
    expect((await vigil('help', 'simulate', 'policy')).out).toMatch(/^usage: vigil simulate policy/)
    // an unknown kind still asks for help: the command's own usage
    expect((await vigil('simulate', 'nothing', '--help')).out).toMatch(/^usage: vigil simulate KIND/)
    const missing = await vigil('eval')
    expect(missing.code).toBe(2)
    expect(missing.err).toMatch(/^eval: missing the suite; name one of: detect, forecast\n/)
  })

  it('vigil help names an unknown command and exits 2; without one it lists them all', async () => {
    const r = await vigil('help', 'nosuch')
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/^vigil: unknown command "nosuch"/)
    const all = await vigil('--help')
    expect(all.code).toBe(0)
    expect(all.out).toMatch(/vigil <command> --help/)
    // every command on its own line with what it does
    for (const name of COMMANDS) expect(all.out).toMatch(new RegExp(`^  ${name} +[a-z].{10,}$`, 'm'))
    expect(all.out).toMatch(/^ {2}check-config +validate a vigil\.yaml and print every problem$/m)
  })
})

describe('--version', () => {
  it('--version and -V print the package version and exit 0', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    for (const flag of ['--version', '-V'])
      expect(await vigil(flag)).toEqual({ code: 0, out: `${version}\n`, err: '' })
    expect((await vigil('--help')).out).toMatch(/vigil --version \(-V\) prints the version/)
  })
})

describe('check-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-check-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('prints every problem of a file in one run, list items after a broken one named by their place in it', async () => {
    const file = 'test/fixtures/config/bad-route-fields.yaml'
    const r = await vigil('check-config', '--config', file)
    expect(r.code).toBe(1)
    expect(
      r.err
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(0, l.indexOf(': ', file.length + 2))),
    ).toEqual(
      ['routes[1].path', 'routes[2].path', 'routes[2].service', 'routes[3].service', 'routes[4].path'].map(
        (p) => `${file}: ${p}`,
      ),
    )
  })

  it('names the file as given, on success and on every problem, and counts in words', async () => {
    const bad = await vigil('check-config', 'test/fixtures/config/bad-port.yaml')
    expect(bad.code).toBe(1)
    expect(bad.err).toBe(
      'test/fixtures/config/bad-port.yaml: gateway.port: expected a port number 0-65535 (0 picks a free port), got "eighty"\n',
    )
    // a missing discriminator is the key that is wrong: named with its values, not "got nothing"
    // (every union of the config: src/config/schema.test.ts)
    const kinds = await vigil('check-config', 'test/fixtures/config/bad-missing-kinds.yaml')
    expect(kinds.code).toBe(1)
    expect(kinds.err).toContain(
      'test/fixtures/config/bad-missing-kinds.yaml: store.kind: missing; set it to "sqlite" or "postgres"\n',
    )
    expect(kinds.err.match(/\.kind: missing; set it to /g)).toHaveLength(5)
    const yaml = await vigil('check-config', 'test/fixtures/config/bad-yaml.yaml')
    expect(yaml.err).toMatch(
      /^test\/fixtures\/config\/bad-yaml\.yaml: not valid YAML: .* at line 3, column 1\n$/,
    )
    const one = join(dir, 'one.yaml')
    writeFileSync(
      one,
      'services: { api: { targets: [http://127.0.0.1:9] } }\nroutes: [{ path: /, service: api }]\n',
    )
    expect((await vigil('check-config', one)).out).toBe(`${one}: OK (1 service, 1 route)\n`)
    // the file as the other commands take it
    expect((await vigil('check-config', '--config', one)).out).toBe(`${one}: OK (1 service, 1 route)\n`)
    const both = await vigil('check-config', one, '-c', one)
    expect(both.code).toBe(2)
    expect(both.err).toMatch(/^check-config takes one FILE, got .* and --config /)
    expect((await vigil('check-config', 'examples/vigil.yaml')).out).toBe(
      'examples/vigil.yaml: OK (3 services, 6 routes)\n',
    )
  })

  it('names the key a misspelled one was meant to be, with the exit code of any bad config', async () => {
    const file = 'test/fixtures/config/bad-key-typo.yaml'
    const hint = `${file}: routes[0].totalTimeoutMS: unknown key "totalTimeoutMS"; did you mean "totalTimeoutMs"?\n`
    const check = await vigil('check-config', file)
    expect({ code: check.code, err: check.err }).toEqual({ code: 1, err: hint })
    const start = await vigil('start', '--config', file)
    expect({ code: start.code, err: start.err }).toEqual({ code: 1, err: hint })
  })

  it('a file it cannot read says why in words and exits 1', async () => {
    const missing = await vigil('check-config', 'no-such-vigil.yaml')
    expect(missing.code).toBe(1)
    expect(missing.err).toBe(
      `cannot read config file no-such-vigil.yaml: no such file in ${process.cwd()}; check the path\n`,
    )
    expect((await vigil('start', '--config', join(dir, 'gone.yaml'))).err).toBe(
      `cannot read config file ${join(dir, 'gone.yaml')}: no such file; check the path\n`,
    )
    const directory = await vigil('check-config', dir)
    expect(directory.err).toBe(
      `cannot read config file ${dir}: it is a directory; name the YAML file in it\n`,
    )
  })
})

describe('--output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-out-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'missing', 'o.csv')
  const why = `--output ${out}: cannot write the file: directory ${join(dir, 'missing')} does not exist; choose another path\n`

  // the input does not exist either: the output is checked first, before any work
  it('detect and forecast refuse an unwritable output before reading the input, naming flag, path and reason', async () => {
    for (const args of [
      ['detect', '--input', join(dir, 'in.csv'), '--output', out],
      ['forecast', '--input', join(dir, 'in.csv'), '--horizon', '3', '--output', out],
    ]) {
      const r = await vigil(...args)
      expect(r.code).toBe(1)
      expect(r.err).toBe(why)
    }
  })

  it('the eval suites refuse an unwritable --out before their run', async () => {
    const outWhy = why.replace('--output', '--out')
    for (const args of [
      ['eval', 'detect', '--dev-only', '--dev-dir', dir, '--out', out],
      ['eval', 'forecast', '--out', out],
    ]) {
      const r = await vigil(...args)
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.err).toBe(outWhy)
    }
  })

  it('eval detect names a bad flag and exits 2, and a missing --dev-dir exits 1 with its path', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['--bogus'], 2, /^--bogus: unknown option \(it takes --seed, /],
      [['--seed', 'x'], 2, /^--seed: expected a whole number, got "x"\n$/],
      [['--detector', 'nope'], 2, /^--detector: unknown detector "nope"; choose one of: novelty, /],
      [['--dev-only'], 2, /^--dev-only skips the generated suite and needs --dev-dir DIR/],
      [['--dev-only', '--dev-dir', join(dir, 'none')], 1, /^--dev-dir: development set not found under /],
    ]
    for (const [args, code, err] of cases) {
      const r = await vigil('eval', 'detect', ...args)
      expect({ args, code: r.code }).toEqual({ args, code })
      expect(r.err).toMatch(err)
      expect(r.err).not.toMatch(/^\s+at /m)
    }
  })

  it('a bad flag, a bad value for load or mock, or a stray argument exits 2 with one line saying so', async () => {
    const cases: string[][] = [
      ['load', '--target', 'localhost:8080'],
      ['load', '--target', 'http://127.0.0.1:9', '--pattern', 'bursty'],
      ['mock', '--port', '0', '--latency-ms', '500-50'],
      ['start', '--confg', 'vigil.yaml'],
      ['start', 'examples/proxy.yaml'],
    ]
    for (const args of cases) {
      const r = await vigil(...args)
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.err.split('\n')[0]).toMatch(/^(--(target|pattern|latency-ms|confg): |unexpected argument )/)
    }
    expect((await vigil('start', '--confg', 'x')).err).toMatch(
      /^--confg: unknown option; did you mean --config\?/,
    )
    // the file named without --config is not ignored for ./vigil.yaml
    expect((await vigil('start', 'examples/proxy.yaml')).err).toMatch(
      /^unexpected argument "examples\/proxy\.yaml"; pass the config file as --config examples\/proxy\.yaml\n/,
    )
  })

  it('a missing input says where it was looked for, and a series too short names its file', async () => {
    const missing = await vigil('forecast', '--input', 'nope.csv', '--horizon', '3', '--output', '-')
    expect(missing.code).toBe(1)
    expect(missing.err).toBe(
      `nope.csv: cannot read input file: no such file in ${process.cwd()}; check the path\n`,
    )
    const short = join(dir, 'short.csv')
    writeFileSync(short, 'timestamp,value\n60,1\n120,2\n')
    const r = await vigil('forecast', '--input', short, '--horizon', '3', '--output', '-')
    expect(r.code).toBe(1)
    expect(r.err).toBe(
      `${short}: 2 row(s) with a value; forecasting needs at least 3: give it a longer history\n`,
    )
  })

  it('a header with no rows, or a value that is not a number, is one line naming the file and leaves no output', async () => {
    const header = join(dir, 'header-only.csv')
    writeFileSync(header, 'timestamp,value\n')
    const scored = join(dir, 'scored.csv')
    const r = await vigil('detect', '--input', header, '--output', scored)
    expect(r.code).toBe(1)
    expect(r.err).toBe(`${header}: no rows after the header; add timestamp,value rows to score\n`)
    expect(existsSync(scored)).toBe(false)
    const word = join(dir, 'word.csv')
    writeFileSync(word, 'timestamp,value\n60,1\n120,abc\n180,3\n')
    const forecast = join(dir, 'word-forecast.csv')
    const f = await vigil('forecast', '--input', word, '--horizon', '2', '--output', forecast)
    expect(f.code).toBe(1)
    expect(f.err).toBe(`${word}:3: value "abc" is not a number; fix or remove the line\n`)
    expect(existsSync(forecast)).toBe(false)
  })

  it('forecast names --horizon and its range when the horizon is too long, exit 2', async () => {
    const input = join(dir, 'long-horizon.csv')
    writeFileSync(input, 'timestamp,value\n60,1\n120,2\n180,3\n240,4\n')
    const r = await vigil('forecast', '--input', input, '--horizon', '100001', '--output', '-')
    expect(r.code).toBe(2)
    expect(r.err).toBe('--horizon: expected a whole number of steps from 1 to 100000, got "100001"\n')
  })

  it('forecast blames --freq, not the file, when the rows do not fit the interval it names', async () => {
    const input = join(dir, 'minutes.csv')
    writeFileSync(input, 'timestamp,value\n60,1\n120,2\n180,3\n240,4\n')
    const r = await vigil('forecast', '--input', input, '--horizon', '2', '--freq', '7', '--output', '-')
    expect(r.code).toBe(1)
    expect(r.err).toBe(
      `${input}: the gap from line 2 to line 3 is 60s, not a multiple of --freq 7; give the interval the rows are written at, or leave --freq out to infer it\n`,
    )
  })

  // before: the generated suite ran first (about half a minute) and only then was --dev-dir read
  it(
    'eval detect refuses a missing --dev-dir before it runs the generated suite',
    { timeout: 15_000 },
    async () => {
      const r = await vigil('eval', 'detect', '--dev-dir', join(dir, 'none'))
      expect(r.code).toBe(1)
      expect(r.err).toMatch(/^--dev-dir: development set not found under /)
      expect(r.out).toBe('')
    },
  )

  it('mock refuses a seed that is not a number, and names --port when the port is taken', async () => {
    const seed = await vigil('mock', '--port', '0', '--seed', 'abc')
    expect(seed.code).toBe(2)
    expect(seed.err).toBe('--seed: expected a whole number, got "abc"\n')
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    try {
      const r = await vigil('mock', '--port', String(port))
      expect(r.code).toBe(1)
      expect(r.err).toBe(
        `mock service mock cannot listen on 127.0.0.1:${port}: --port ${port} is in use by another process: stop it, or set --port to a free port\n`,
      )
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })

  it('forecast says how it read timestamps the text leaves open', async () => {
    const input = join(dir, 'epoch.csv')
    writeFileSync(
      input,
      `timestamp,value\n${[1, 2, 3, 4, 5, 6].map((i) => `${i * 60 + 1764547200},${i}`).join('\n')}\n`,
    )
    const r = await vigil(
      'forecast',
      '--input',
      input,
      '--horizon',
      '2',
      '--output',
      join(dir, 'f.csv'),
      '--model',
      'naive',
    )
    expect(r.code).toBe(0)
    expect(r.err.split('\n')[0]).toBe(`vigil forecast: ${input}: timestamps read as epoch seconds`)
  })

  it('start, gateway, control and the replays of stored history without --config and without a vigil.yaml here ask for the flag, exit 2', () => {
    for (const args of [
      ['start'],
      ['gateway'],
      ['control'],
      ['simulate', 'alerts', '--from', '-1h', '--to', 'now'],
      ['simulate', 'policy', '--name', 'forecast-pressure', '--from', '-1h'],
    ]) {
      const name = args.join(' ')
      const r = spawnSync(
        process.execPath,
        [join(import.meta.dirname, '..', '..', 'bin', 'vigil.js'), ...args],
        {
          cwd: dir,
          encoding: 'utf8',
          timeout: 30_000,
        },
      )
      expect({ name, status: r.status }).toEqual({ name, status: 2 })
      expect(r.stderr.split('\n')[0]).toBe(
        `--config: not given, and there is no vigil.yaml in ${realpathSync(dir)}; pass --config FILE (examples/ in the repository has some)`,
      )
    }
  })

  it('refuses an output that is the input file, by name, by another path or by a link, and leaves the input alone', async () => {
    const input = join(dir, 'series.csv')
    const text = `timestamp,value\n${Array.from({ length: 40 }, (_, i) => `${1_700_000_000 + i * 60},${10 + (i % 5)}`).join('\n')}\n`
    writeFileSync(input, text)
    const link = join(dir, 'series-link.csv')
    symlinkSync(input, link)
    const same = [input, join(dir, '.', 'series.csv'), link]
    for (const output of same)
      for (const args of [
        ['detect', '--input', input, '--output', output],
        ['forecast', '--input', input, '--horizon', '3', '--output', output],
        ['simulate', 'autoscale', '--input', input, '--capacity-per-replica', '5', '--output', output],
      ]) {
        const r = await vigil(...args)
        expect({ args, code: r.code }).toEqual({ args, code: 2 })
        expect(r.err).toBe(
          `--output ${output} is the --input file ${input}; writing it would overwrite the input: choose another --output path\n`,
        )
        expect(readFileSync(input, 'utf8')).toBe(text)
      }
    // another file is written as before
    const scored = join(dir, 'scored.csv')
    expect((await vigil('detect', '--input', input, '--output', scored)).code).toBe(0)
    expect(readFileSync(scored, 'utf8').split('\n')[0]).toMatch(/^timestamp,/)
  })

  it('refuses a directory as the output', async () => {
    const r = await vigil('detect', '--input', join(dir, 'in.csv'), '--output', dir)
    expect(r.code).toBe(1)
    expect(r.err).toBe(`--output ${dir}: cannot write the file: it is a directory; choose another path\n`)
  })
})
