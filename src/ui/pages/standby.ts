/** @module What a page says when this control plane stands by and the data it reads is the leader's. */

/**
 * The one line a page shows in place of its panels when the admin API refused its data because
 * this control plane does not lead (VGL_ERR_CONTROL_NOT_LEADER, whose message names the leader and
 * its admin API); null for any other error, which the page shows as a problem as usual. Without
 * it a standby's page showed the refusal with "Loading…" left under it, for data that never comes.
 */
export function standbyNotice(
  what: string,
  ...errors: ReadonlyArray<{ code: string; message: string } | null>
): string | null {
  const e = errors.find((x) => x?.code === 'VGL_ERR_CONTROL_NOT_LEADER')
  if (e === undefined || e === null) return null
  // the server's message reads "this control plane does not lead: the leader is … (admin API at …)"
  const leader = e.message.replace(/^this control plane does not lead:\s*/, '')
  return `${what} unavailable: this control plane stands by and only the leader has them; ${leader}. Open the leader's dashboard for them.`
}
