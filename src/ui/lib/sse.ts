/** A text/event-stream parser for fetch bodies (pure: tested in Node). */

/** Splits a text/event-stream into events (WHATWG HTML §9.2 parsing, the fields used here). */
export class SseParser {
  #buf = ''
  #data: string[] = []
  #event = ''
  #id: string | null = null
  constructor(
    private readonly onMessage: (event: string, data: string, id: string | null) => void,
    private readonly onRetry: (ms: number) => void = () => {},
  ) {}

  push(chunk: string): void {
    this.#buf += chunk
    let i: number
    while ((i = this.#buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.#buf.slice(0, i)
      const nl = this.#buf[i] === '\r' && this.#buf[i + 1] === '\n' ? 2 : 1
      // a lone \r at the very end may be the first half of \r\n: wait for more
      if (this.#buf[i] === '\r' && i + 1 === this.#buf.length) break
      this.#buf = this.#buf.slice(i + nl)
      this.#line(line)
    }
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0) this.onMessage(this.#event || 'message', this.#data.join('\n'), this.#id)
      this.#data = []
      this.#event = ''
      return
    }
    if (line.startsWith(':')) return
    const c = line.indexOf(':')
    const field = c < 0 ? line : line.slice(0, c)
    let value = c < 0 ? '' : line.slice(c + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#event = value
    else if (field === 'id' && !value.includes('\0')) this.#id = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry(Number(value))
  }
}
