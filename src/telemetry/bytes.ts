/**
 * @module Minimal growable byte writer and reader for the telemetry codecs: unsigned LEB128
 * varints (exact up to 2^53), zig-zag signed varints, little-endian float64 and UTF-8 strings.
 * Hand-written because rollups and span batches cross the bus on every window and
 * a generic encoder (JSON, protobufjs reflection) costs several times more per message.
 */
import { VGL_ERR_TELEMETRY_DECODE } from '../errors.js'

export class ByteWriter {
  #buf: Buffer
  #pos = 0

  constructor(initialBytes = 256) {
    this.#buf = Buffer.allocUnsafe(initialBytes)
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return
    let size = this.#buf.length * 2
    while (size < this.#pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.#buf.copy(next, 0, 0, this.#pos)
    this.#buf = next
  }

  u8(v: number): void {
    this.#ensure(1)
    this.#buf[this.#pos++] = v
  }

  /** unsigned varint; non-negative integers up to 2^53 */
  uvar(v: number): void {
    this.#ensure(8)
    // 32-bit ops are only safe below 2^31; above that fall back to division (rare: byte totals)
    while (v >= 0x80) {
      this.#buf[this.#pos++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
      if (this.#pos + 1 > this.#buf.length) this.#ensure(8)
    }
    this.#buf[this.#pos++] = v
  }

  /** signed integer as zig-zag varint */
  svar(v: number): void {
    this.uvar(v < 0 ? -2 * v - 1 : 2 * v)
  }

  f64(v: number): void {
    this.#ensure(8)
    this.#buf.writeDoubleLE(v, this.#pos)
    this.#pos += 8
  }

  str(s: string): void {
    const n = Buffer.byteLength(s)
    this.uvar(n)
    this.#ensure(n)
    this.#pos += this.#buf.write(s, this.#pos, 'utf8')
  }

  bytes(b: Uint8Array): void {
    this.uvar(b.length)
    this.#ensure(b.length)
    this.#buf.set(b, this.#pos)
    this.#pos += b.length
  }

  /** a copy of the written bytes, safe to keep after the writer is reused */
  finish(): Uint8Array {
    return new Uint8Array(this.#buf.subarray(0, this.#pos))
  }
}

export class ByteReader {
  readonly #buf: Buffer
  #pos = 0
  readonly #what: string

  constructor(data: Uint8Array, what: string) {
    this.#buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    this.#what = what
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length)
      throw VGL_ERR_TELEMETRY_DECODE(
        this.#what,
        `truncated at byte ${this.#pos} (length ${this.#buf.length})`,
      )
  }

  get done(): boolean {
    return this.#pos >= this.#buf.length
  }

  u8(): number {
    this.#need(1)
    return this.#buf[this.#pos++]!
  }

  uvar(): number {
    let result = 0
    let mul = 1
    for (let i = 0; i < 8; i++) {
      this.#need(1)
      const b = this.#buf[this.#pos++]!
      result += (b & 0x7f) * mul
      if (b < 0x80) return result
      mul *= 128
    }
    throw VGL_ERR_TELEMETRY_DECODE(this.#what, `varint longer than 8 bytes at byte ${this.#pos}`)
  }

  svar(): number {
    const z = this.uvar()
    return z % 2 === 1 ? -(z + 1) / 2 : z / 2
  }

  f64(): number {
    this.#need(8)
    const v = this.#buf.readDoubleLE(this.#pos)
    this.#pos += 8
    return v
  }

  str(): string {
    const n = this.uvar()
    this.#need(n)
    const s = this.#buf.toString('utf8', this.#pos, this.#pos + n)
    this.#pos += n
    return s
  }

  bytes(): Uint8Array {
    const n = this.uvar()
    this.#need(n)
    const b = new Uint8Array(this.#buf.subarray(this.#pos, this.#pos + n))
    this.#pos += n
    return b
  }

  fail(reason: string): never {
    throw VGL_ERR_TELEMETRY_DECODE(this.#what, reason)
  }
}
