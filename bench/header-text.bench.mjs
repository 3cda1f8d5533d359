// Decoding an upstream response's header names and values (latin1 Buffers from undici), as the
// gateway does once per proxied response: `headerText` (recent-string cache, byte-compared)
// against `Buffer#toString('latin1')` (the native call it replaces), in the same run. CPU time per
// response of five headers (ten strings), interleaved rounds, median reported.
// Usage: npm run bench -- header-text   (QUICK=1 shortens it)
import { headerText } from '../dist/gateway/header-text.js'

const QUICK = process.env.QUICK === '1'
const RESPONSES = QUICK ? 300_000 : 2_000_000
const ROUNDS = QUICK ? 3 : 7

// A response head as the bench upstream sends it; each name and value is a slice of it, as undici's are.
const head = Buffer.from(
  'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 52\r\n' +
    'Date: Sat, 05 Dec 2026 00:58:01 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n',
  'latin1',
)
const strings = []
for (const line of head.toString('latin1').split('\r\n').slice(1, -2)) {
  const at = head.indexOf(line)
  const colon = line.indexOf(':')
  strings.push(head.subarray(at, at + colon), head.subarray(at + colon + 2, at + line.length))
}

let sink = 0
function nsPerResponse(decode) {
  const t0 = process.cpuUsage()
  for (let r = 0; r < RESPONSES; r++)
    for (let i = 0; i < strings.length; i++) sink += decode(strings[i]).length
  const t = process.cpuUsage(t0)
  return ((t.user + t.system) * 1000) / RESPONSES
}

const ways = [
  ["Buffer#toString('latin1') per string", (b) => b.toString('latin1')],
  ['headerText (recent-string cache)', headerText],
]
const ns = ways.map(() => [])
for (let round = 0; round < ROUNDS; round++)
  for (let k = 0; k < ways.length; k++) {
    const i = (k + round) % ways.length
    ns[i].push(nsPerResponse(ways[i][1]))
  }
if (sink === 0) throw new Error('unreachable')
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
console.log(`header text, ${strings.length} strings per response, ${ROUNDS} rounds (median, range)`)
console.log('| decoding | CPU ns per response | range |\n|---|---|---|')
for (let i = 0; i < ways.length; i++)
  console.log(
    `| ${ways[i][0]} | ${median(ns[i]).toFixed(0)} | ${Math.min(...ns[i]).toFixed(0)}–${Math.max(...ns[i]).toFixed(0)} |`,
  )
