import { describe, expect, it } from 'vitest'
import { processLogger } from './log.js'

describe('processLogger', () => {
  it('writes JSON lines with the name and an ISO time, like the access log', () => {
    const lines: string[] = []
    const logger = processLogger('vigil', 'info', { write: (l: string) => void lines.push(l) })
    logger.info({ url: 'http://127.0.0.1:8080' }, 'gateway listening')
    logger.debug('not at info')
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]) as Record<string, unknown>
    expect(line).toMatchObject({ level: 30, name: 'vigil', msg: 'gateway listening' })
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  })
})
