import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { JsonlAuditLog } from './audit.js'

describe('JsonlAuditLog', () => {
  it('appends one JSON object per line with every field', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vigil-audit-')), 'sub', 'audit.jsonl')
    const log = new JsonlAuditLog(path)
    const base = { at: '2026-01-01T00:00:00.000Z', actor: 'admin', reason: 'test' }
    log.record({
      ...base,
      kind: 'limits.tier.update',
      subject: 'STD',
      before: { ratePerSec: 1 },
      after: { ratePerSec: 2 },
    })
    log.record({ ...base, kind: 'limits.key.revoke', subject: 'k1', before: null, after: undefined })
    const lines = readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toEqual({
      ...base,
      kind: 'limits.tier.update',
      subject: 'STD',
      before: { ratePerSec: 1 },
      after: { ratePerSec: 2 },
    })
    expect(lines[1]!.after).toBeNull()
  })
})
