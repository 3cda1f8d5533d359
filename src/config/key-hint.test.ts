import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { closestKey, knownKeysAt } from './key-hint.js'
import { parseConfigText } from './load.js'
import { issueProblems } from './messages.js'

function messageOf(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfigText(text, 'vigil.yaml', env)
  } catch (err) {
    return (err as Error).message
  }
  return 'no error'
}

/** The message's lines, in any order: the loader lists problems in zod's order. */
const linesOf = (text: string, env?: NodeJS.ProcessEnv) => messageOf(text, env).split('\n').sort()
const sorted = (lines: string[]) => [...lines].sort()

const valid = (extra = '') =>
  [
    'services:',
    '  orders:',
    '    targets: [http://127.0.0.1:9001]',
    extra,
    'routes:',
    '  - { path: /, service: orders }',
  ].join('\n')

describe('a value that is none of the choices names the one it was probably meant to be', () => {
  it('in an enum and in the kind of a block', () => {
    expect(messageOf(valid('    balancer: round-robbin'))).toBe(
      'vigil.yaml: services.orders.balancer: expected one of "round-robin", "least-outstanding", got "round-robbin"; did you mean "round-robin"?',
    )
    expect(messageOf(`${valid()}\nstore: { kind: postgress }`)).toBe(
      'vigil.yaml: store.kind: expected one of "sqlite", "postgres", got "postgress"; did you mean "postgres"?',
    )
  })

  it('lists the choices alone when none is close', () => {
    expect(messageOf(valid('    balancer: random'))).toBe(
      'vigil.yaml: services.orders.balancer: expected one of "round-robin", "least-outstanding", got "random"',
    )
  })
})

describe('unknown config keys name the known key they were probably meant to be', () => {
  it('at the top level', () => {
    const text =
      'services: { api: { targets: [http://127.0.0.1:9001] } }\nroutes: [{ path: /, service: api }]\nGateway: { port: 1 }\n'
    expect(messageOf(text)).toBe('vigil.yaml: Gateway: unknown key "Gateway"; did you mean "gateway"?')
  })

  it('inside the list of routes and a block below a route', () => {
    const text = [
      'services: { api: { targets: [http://127.0.0.1:9001] } }',
      'routes:',
      '  - { path: /a, service: api }',
      '  - { path: /b, service: api, totalTimeoutMS: 5, retry: { atempts: 2 } }',
    ].join('\n')
    expect(linesOf(text)).toEqual(
      sorted([
        'vigil.yaml: routes[1].totalTimeoutMS: unknown key "totalTimeoutMS"; did you mean "totalTimeoutMs"?',
        'vigil.yaml: routes[1].retry.atempts: unknown key "atempts"; did you mean "attempts"?',
      ]),
    )
  })

  it('inside a service scale block, through its unions', () => {
    const text = valid(
      [
        '    scale:',
        '      mode: shadow',
        '      maxReplica: 3',
        '      capacityPerReplica: { learn: true, intial: 50 }',
        '      actuator: { kind: docker, image: orders, stopTimeoutSecs: 5 }',
      ].join('\n'),
    )
    expect(linesOf(text)).toEqual(
      sorted([
        'vigil.yaml: services.orders.scale.maxReplica: unknown key "maxReplica"; remove it or check its spelling',
        'vigil.yaml: services.orders.scale.capacityPerReplica.intial: unknown key "intial"; did you mean "initial"?',
        'vigil.yaml: services.orders.scale.actuator.stopTimeoutSecs: unknown key "stopTimeoutSecs"; did you mean "stopTimeoutSec"?',
        // the cross-check still reads the file as if the unknown key were not there
        'vigil.yaml: services.orders.scale.capacityPerReplica.initial: learning needs a starting capacity (req/s one replica serves), used until there is enough evidence; e.g. initial: 50',
      ]),
    )
  })

  it('takes the key from the option a discriminator (kind) picks, not from another option', () => {
    // "comand" is one typo from the process actuator's "command", but this actuator is kubernetes
    const text = valid('    scale: { actuator: { kind: kubernetes, comand: [x] } }')
    expect(messageOf(text)).toBe(
      'vigil.yaml: services.orders.scale.actuator.comand: unknown key "comand"; remove it or check its spelling',
    )
  })

  it('inside alert rules, by the rule kind', () => {
    const text = valid(
      [
        'alerts:',
        '  rules:',
        '    - { name: errs, kind: error-ratio, tailp: 0.01, resolvefor: 2 windows }',
        '    - { name: slow, kind: latency, threshold: 800, tailP: 0.01, match: { servce: orders } }',
      ].join('\n'),
    )
    expect(linesOf(text)).toEqual(
      sorted([
        'vigil.yaml: alerts.rules[0].tailp: unknown key "tailp"; did you mean "tailP"?',
        'vigil.yaml: alerts.rules[0].resolvefor: unknown key "resolvefor"; did you mean "resolveFor"?',
        'vigil.yaml: alerts.rules[1].tailP: unknown key "tailP"; remove it or check its spelling',
        'vigil.yaml: alerts.rules[1].match.servce: unknown key "servce"; did you mean "service"?',
      ]),
    )
  })

  it('gives no hint when nothing is close, nor for a key holding an unsubstituted ${VAR}', () => {
    const text = valid('    colour: blue\n${PORTS}: 1')
    expect(linesOf(text, { PORTS: 'gateway' })).toEqual(
      sorted([
        'vigil.yaml: services.orders.colour: unknown key "colour"; remove it or check its spelling',
        'vigil.yaml: ${PORTS}: unknown key "${PORTS}"; remove it or check its spelling',
      ]),
    )
  })

  it('names the hint in an admin API body too', () => {
    const schema = z.strictObject({ burst: z.number(), ratePerSec: z.number().optional() })
    const r = schema.safeParse({ burst: 1, ratePerSecond: 2 }, { reportInput: true })
    expect(issueProblems(r.error!, { root: 'body', schema })).toEqual([
      { path: 'ratePerSecond', message: 'unknown key "ratePerSecond"; remove it or check its spelling' },
    ])
    const s = schema.safeParse({ burst: 1, ratepersec: 2 }, { reportInput: true })
    expect(issueProblems(s.error!, { root: 'body', schema })).toEqual([
      { path: 'ratepersec', message: 'unknown key "ratepersec"; did you mean "ratePerSec"?' },
    ])
  })
})

describe('knownKeysAt', () => {
  const leaf = z.strictObject({ alpha: z.number(), beta: z.number() })
  it('walks objects, arrays, records, tuples, wrappers, pipes, lazy schemas and intersections', () => {
    const root = z.strictObject({
      list: z.array(leaf).optional(),
      map: z.record(z.string(), leaf.nullable()).default({}),
      pair: z.tuple([z.number(), leaf]),
      pre: z.preprocess((v) => v, leaf),
      post: leaf.transform((v) => v),
      lazy: z.lazy(() => leaf).catch({ alpha: 1, beta: 2 }),
      both: z.intersection(leaf, z.object({ gamma: z.number() })),
    })
    expect(knownKeysAt(root, [])).toEqual(['list', 'map', 'pair', 'pre', 'post', 'lazy', 'both'])
    for (const path of [['list', 3], ['map', 'any'], ['pair', 1], ['pre'], ['post'], ['lazy']])
      expect(knownKeysAt(root, path)).toEqual(['alpha', 'beta'])
    expect(knownKeysAt(root, ['both'])).toEqual(['alpha', 'beta', 'gamma'])
    expect(knownKeysAt(root, ['nowhere', 'deeper'])).toEqual([])
  })
})

describe('closestKey', () => {
  it('matches another case, a typo, a swap, and two typos only in long keys', () => {
    const known = ['timeoutMs', 'path', 'port', 'bodyLimitBytes']
    expect(closestKey('timeoutMS', known)).toBe('timeoutMs')
    expect(closestKey('pth', known)).toBeUndefined() // short keys: case only
    expect(closestKey('PATH', known)).toBe('path')
    expect(closestKey('prot', known)).toBe('port')
    expect(closestKey('bodyLimtByte', known)).toBe('bodyLimitBytes')
    expect(closestKey('timeout', known)).toBe('timeoutMs')
    expect(closestKey('time', known)).toBeUndefined()
    expect(closestKey('colour', known)).toBeUndefined()
  })
})
