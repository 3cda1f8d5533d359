import { describe, expect, it } from 'vitest'
import { standbyNotice } from './standby.js'

const notLeader = {
  code: 'VGL_ERR_CONTROL_NOT_LEADER',
  message: 'this control plane does not lead: the leader is cp-1 (admin API at http://10.0.0.5:8081)',
}

describe('standbyNotice', () => {
  it('names the leader and its admin API once, whichever of the calls was refused', () => {
    const text = standbyNotice('Journeys', null, notLeader)
    expect(text).toBe(
      "Journeys unavailable: this control plane stands by and only the leader has them; the leader is cp-1 (admin API at http://10.0.0.5:8081). Open the leader's dashboard for them.",
    )
    expect(standbyNotice('Journeys', notLeader, notLeader)).toBe(text)
  })

  it('leaves other errors, and no error, to the page', () => {
    expect(standbyNotice('Journeys', null, null)).toBeNull()
    expect(standbyNotice('Journeys', { code: 'HTTP_0', message: 'Vigil does not answer' })).toBeNull()
  })

  it('says so when no control plane leads', () => {
    const text = standbyNotice('Journeys', {
      code: 'VGL_ERR_CONTROL_NOT_LEADER',
      message:
        'this control plane does not lead: no control plane leads now; one takes over within the lease time',
    })
    expect(text).toContain('no control plane leads now')
  })
})
