/**
 * @module Reads a detector state file (`detect.statePath`, written with `v8.serialize`). Node's
 * deserializer returns every typed array as a view into the whole file's buffer; the detectors
 * copy their state on restore (`structuredClone`), and a clone of a view copies its whole buffer,
 * so each of a bank's many arrays would copy the entire file: minutes and gigabytes for 100
 * series. Here each typed array gets a buffer of its own as it is read.
 */
import { DefaultDeserializer } from 'node:v8'

/** `v8.deserialize`, with every typed array owning a buffer of its own size. */
export function readStateFile(bytes: Uint8Array): unknown {
  // Node calls `_readHostObject` for each typed array (documented, not in its type definitions)
  const d = new DefaultDeserializer(bytes) as DefaultDeserializer & { _readHostObject(): unknown }
  const read = d._readHostObject.bind(d)
  d._readHostObject = () => {
    const v = read()
    // a copy of exactly its bytes (the TypedArray slice, not Buffer's, which is a view)
    return ArrayBuffer.isView(v) && !(v instanceof DataView) ? Uint8Array.prototype.slice.call(v) : v
  }
  d.readHeader()
  return d.readValue()
}
