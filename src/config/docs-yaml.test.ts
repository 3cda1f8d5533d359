/**
 * @module Every ```yaml block of README.md and docs/*.md goes through the real config loader, so a
 * snippet a user copies cannot drift from the schema unnoticed; so do the examples whose
 * check-config output the docs quote.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { parseConfigText } from './load.js'

/** Written on the line before a fence whose YAML configures another tool (Filebeat, an adapter). */
const OTHER_TOOL = '<!-- yaml: not vigil.yaml -->'

/** Top-level sections of vigil.yaml: a snippet made of these alone is a fragment of a whole file. */
const SECTIONS = new Set([
  'env',
  'gateway',
  'admin',
  'services',
  'routes',
  'limits',
  'telemetry',
  'bus',
  'store',
  'control',
  'detect',
  'forecast',
  'alerts',
  'policies',
  'journeys',
])

/** What a fragment is put into: the services the docs' snippets name, each with a route. */
const BASE_SERVICES = ['api', 'orders', 'users', 'payments', 'shop']

interface YamlBlock {
  /** `file:line` of the block's first line. */
  where: string
  text: string
  otherTool: boolean
}

/** The ```yaml (or ```yml) fenced blocks of one Markdown text. */
function yamlBlocks(markdown: string, file: string): YamlBlock[] {
  const lines = markdown.split('\n')
  const blocks: YamlBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\S*)/.exec(lines[i] ?? '')
    if (open === null) continue
    const fence = open[2] ?? '```'
    const lang = open[3] ?? ''
    let end = i + 1
    while (end < lines.length && !(lines[end] ?? '').trim().startsWith(fence)) end++
    if (lang === 'yaml' || lang === 'yml') {
      let before = i - 1
      while (before >= 0 && (lines[before] ?? '').trim() === '') before--
      blocks.push({
        where: `${file}:${i + 2}`,
        text: lines.slice(i + 1, end).join('\n') + '\n',
        otherTool: (lines[before] ?? '').trim() === OTHER_TOOL,
      })
    }
    i = end
  }
  return blocks
}

/**
 * The whole config a block stands for: the block itself when it has `services:` and `routes:`,
 * otherwise the block's sections with what it lacks: a few services, and a route to each service.
 * Returns null when a top-level key is not a vigil.yaml section.
 */
function wholeConfig(text: string): string | null {
  const raw: unknown = parse(text)
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null
  const snippet = raw as Record<string, unknown>
  if (!Object.keys(snippet).every((k) => SECTIONS.has(k))) return null
  if ('services' in snippet && 'routes' in snippet) return text
  const services =
    snippet.services !== null && typeof snippet.services === 'object'
      ? (snippet.services as Record<string, unknown>)
      : Object.fromEntries(
          BASE_SERVICES.map((name, i) => [name, { targets: [`http://127.0.0.1:${9001 + i}`] }]),
        )
  const routes = Object.keys(services).map((name) => ({ path: `/${name}`, service: name }))
  return stringify({ services, routes, ...snippet })
}

/** A value for every `${VAR}` without a default, so a snippet is judged on its own fields. */
function envFor(text: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    const name = m[1] ?? ''
    env[name] = name.endsWith('URL') ? 'http://127.0.0.1:9001' : 'a-placeholder-value-0123456789'
  }
  return env
}

/** The loader's message for the block, or null when it is valid (as a whole file or a fragment). */
function checkBlock(block: YamlBlock): string | null {
  let whole: string | null
  try {
    whole = wholeConfig(block.text)
  } catch (err) {
    return `${block.where}: not YAML: ${(err as Error).message.split('\n')[0]}`
  }
  if (whole === null)
    return `${block.where}: top-level keys are not vigil.yaml sections; write the snippet with the section it goes in, or put ${OTHER_TOOL} on the line before the fence`
  try {
    parseConfigText(whole, block.where, envFor(whole))
    return null
  } catch (err) {
    return (err as Error).message
  }
}

const root = new URL('../../', import.meta.url)
const docs = [
  'README.md',
  ...readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
]
const blocks = docs.flatMap((file) => yamlBlocks(readFileSync(new URL(file, root), 'utf8'), file))

describe('YAML in the docs', () => {
  it('finds the snippets', () => {
    expect(blocks.filter((b) => !b.otherTool).length).toBeGreaterThanOrEqual(8)
  })

  it.each(blocks.filter((b) => !b.otherTool).map((b) => [b.where, b] as const))(
    '%s passes check-config as a whole file or a fragment of one',
    (_where, block) => {
      expect(checkBlock(block)).toBeNull()
    },
  )

  it.each([
    [
      'README.md',
      `services:
  orders: { targets: ['http://127.0.0.1:9001'] }
  users: { targets: ['http://127.0.0.1:9002'] }
routes:
  - { path: /orders, service: orders, timeoutMs: 100 }
  - { path: /users, service: users, totalTimeoutMS: 100 }
  - { path: /o, service: ordrs }
`,
    ],
    [
      'docs/config.md',
      `services:
  orders: { targets: ['http://127.0.0.1:9001'] }
  users: { targets: ['http://127.0.0.1:9002'] }
  api: { targets: ['http://127.0.0.1:9003'], balancer: random }
routes:
  - { path: /orders, service: orders, retry: { attempts: 2.5 }, totalTimeoutMS: 100 }
  - { path: /users, service: users }
  - { path: /o, service: ordrs }
`,
    ],
  ])('%s quotes the check-config output of its example as check-config prints it', (file, config) => {
    const md = readFileSync(new URL(file, root), 'utf8')
    const quoted = /```text\n(?:\$ [^\n]*\n)?(vigil\.yaml: [^`]*?)```/.exec(md)?.[1]?.trimEnd()
    let printed = ''
    try {
      parseConfigText(config, 'vigil.yaml', {})
    } catch (err) {
      printed = (err as Error).message
    }
    expect(quoted).toBe(printed)
  })

  it('reports a snippet that drifted from the schema, with the file and line of the block', () => {
    const md = 'Text.\n\n```yaml\nalerts:\n  rules:\n    - { name: e, kind: error-ratio, florr: 0.02 }\n```\n'
    const [block] = yamlBlocks(md, 'docs/x.md')
    expect(block).toBeDefined()
    expect(checkBlock(block!)).toBe(
      'docs/x.md:4: alerts.rules[0].florr: unknown key "florr"; did you mean "floor"?',
    )
  })

  it('refuses a snippet whose section is not in vigil.yaml unless it is marked as another tool', () => {
    const md =
      '```yaml\nroute:\n  - { path: /, service: api }\n```\n\n' +
      OTHER_TOOL +
      '\n```yaml\nfilebeat.inputs: []\n```\n'
    const [vigil, other] = yamlBlocks(md, 'README.md')
    expect(checkBlock(vigil!)).toMatch(/^README\.md:2: top-level keys are not vigil\.yaml sections/)
    expect(other?.otherTool).toBe(true)
  })
})
