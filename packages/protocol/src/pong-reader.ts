import { encode } from "./codec.js";

/**
 * The `seq` of a pong in the form every client here sends it, `{op: "pong", seq}` with `seq` an
 * unsigned integer of at most 32 bits in msgpack's smallest form, read by comparing the frame's bytes;
 * undefined for any other frame, which then takes `decodeClientMessage` (and every refusal with it).
 * A pong is the only frame an idle session sends, one per heartbeat: this spares it the reader's
 * record, the fast path's check and the decoded message (`readCommonRequest` and its callees were 7 %
 * of an idle server's busy CPU at 10,000 sessions, BENCHMARKS.md "Idle sessions (round 6)"). The
 * answer is the full path's (pong-reader.test.ts holds it to that).
 */
export function readPong(frame: Uint8Array): number | undefined {
  const length = frame.length;
  if (length < PREFIX.length + 1 || length > PREFIX.length + 5) return undefined;
  for (let i = 0; i < PREFIX.length; i++) if (frame[i] !== PREFIX[i]) return undefined;
  const at = PREFIX.length;
  const type = frame[at]!;
  if (type <= 0x7f) return length === at + 1 ? type : undefined;
  if (type === 0xcc) return length === at + 2 ? frame[at + 1] : undefined;
  if (type === 0xcd) return length === at + 3 ? (frame[at + 1]! << 8) | frame[at + 2]! : undefined;
  if (type === 0xce) return length === at + 5 ? ((frame[at + 1]! << 24) >>> 0) + ((frame[at + 2]! << 16) | (frame[at + 3]! << 8) | frame[at + 4]!) : undefined;
  return undefined;
}

// `encode({op: "pong", seq: 0})` is: fixmap(2), "op", "pong", "seq", 0x00; all but the last byte.
const PREFIX = encode({ op: "pong", seq: 0 }).slice(0, -1);
