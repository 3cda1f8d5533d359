/**
 * @module The long-running commands' own log: pino JSON lines on stderr, written synchronously so
 * the last line before an exit is never lost, with ISO times like the access log's (an epoch in
 * milliseconds is no time a person reads).
 */
import pino, { type DestinationStream, type Level, type Logger } from 'pino'

/** A process logger named `name` at `level`, on stderr unless `destination` is given (tests). */
export function processLogger(
  name: string,
  level: Level = 'info',
  destination: DestinationStream = pino.destination({ dest: 2, sync: true }),
): Logger {
  return pino({ name, level, timestamp: pino.stdTimeFunctions.isoTime }, destination)
}
