import { describe, expect, it } from 'vitest'
import { buildSilence, type SilenceInput } from './alerting.js'

const input = (matchers: unknown): SilenceInput => ({
  matchers: matchers as SilenceInput['matchers'],
  endsAtMs: 2_000,
  createdBy: 'ops',
  comment: '',
})

describe('buildSilence', () => {
  it('names each bad matcher field as the config loader would', () => {
    expect(() => buildSilence(input([{ name: 'service', value: 'orders', bogus: 1 }]), 1_000)).toThrow(
      'matchers[0].bogus: unknown key "bogus"; remove it or check its spelling',
    )
    expect(() => buildSilence(input([{ name: 'env', value: 'prod' }, { value: 1 }]), 1_000)).toThrow(
      'matchers[1].name: missing; add it (text); matchers[1].value: expected text, got 1; send it as a string: "1"',
    )
    expect(() => buildSilence(input([{ name: '1x', value: 'a' }]), 1_000)).toThrow(
      'matchers[0].name: label names are letters, digits and _, got "1x"',
    )
  })

  it('keeps the text form and its own messages', () => {
    expect(buildSilence(input('service=orders'), 1_000).matchers).toEqual([
      { name: 'service', value: 'orders', isRegex: false, isEqual: true },
    ])
    expect(() => buildSilence(input([]), 1_000)).toThrow('matchers: give at least one, e.g. service="orders"')
  })
})
