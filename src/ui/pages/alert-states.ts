/** The Overview's active-alerts card in words. */

/** `2 firing`, `1 pending`, `2 firing, 1 pending`: a zero is left out, so the badge fits its card. */
export function alertStates(alerts: readonly { state: string }[]): string {
  const firing = alerts.filter((a) => a.state === 'firing').length
  const pending = alerts.filter((a) => a.state === 'pending').length
  return [firing > 0 && `${firing} firing`, pending > 0 && `${pending} pending`].filter(Boolean).join(', ')
}
