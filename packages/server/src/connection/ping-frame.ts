import { encode } from "@leasehold/protocol";

/**
 * A ping, `{type: "ping", seq, ack}`, as the whole WebSocket frame the server writes for it (a final
 * binary frame, unmasked, its 2-byte header and then the msgpack map), built in one buffer without a
 * message object, the encoder, or the copy of the payload into a frame. Every idle session costs the
 * server one ping per heartbeat, so this is the server's whole send path while sessions idle.
 *
 * The bytes are what `frameOf(encode({type: "ping", seq, ack}))` gives (ping-frame.test.ts holds it to
 * that): the map's constant part is taken from `encode` once, the two integers are written in
 * msgpack's smallest unsigned form, as msgpackr writes them. Undefined for an integer past 32 bits
 * (a session would need 2^32 pings, centuries at the heartbeat), which then takes the general path.
 */
export function pingFrame(seq: number, ack: number): Buffer | undefined {
  const seqBytes = uintBytes(seq);
  const ackBytes = uintBytes(ack);
  if (seqBytes === 0 || ackBytes === 0) return undefined;
  const payloadLength = BEFORE_SEQ.length + seqBytes + ACK_KEY.length + ackBytes;
  const frame = Buffer.allocUnsafe(2 + payloadLength);
  frame[0] = FINAL_BINARY;
  frame[1] = payloadLength;
  frame.set(BEFORE_SEQ, 2);
  let pos = writeUint(frame, 2 + BEFORE_SEQ.length, seq, seqBytes);
  frame.set(ACK_KEY, pos);
  pos += ACK_KEY.length;
  writeUint(frame, pos, ack, ackBytes);
  return frame;
}

/** FIN and opcode 2 (binary): the first byte of every frame the server sends (RFC 6455 §5.2). */
const FINAL_BINARY = 0x82;

// `encode({type: "ping", seq: 0, ack: 0})` is: fixmap(3), "type", "ping", "seq", 0x00, "ack", 0x00.
const ZEROS = encode({ type: "ping", seq: 0, ack: 0 });
const BEFORE_SEQ = ZEROS.slice(0, ZEROS.length - 6);
const ACK_KEY = ZEROS.slice(ZEROS.length - 5, ZEROS.length - 1);

/** How many bytes msgpack's smallest unsigned form of `value` takes (tag included); 0 when it is not a 32-bit unsigned integer. */
function uintBytes(value: number): number {
  if (!Number.isInteger(value) || value < 0) return 0;
  if (value < 0x80) return 1;
  if (value < 0x100) return 2;
  if (value < 0x1_0000) return 3;
  if (value < 0x1_0000_0000) return 5;
  return 0;
}

/** Writes `value` in `size` bytes (see uintBytes) at `pos`; returns the position after it. */
function writeUint(frame: Buffer, pos: number, value: number, size: number): number {
  switch (size) {
    case 1:
      frame[pos] = value;
      break;
    case 2:
      frame[pos] = 0xcc;
      frame[pos + 1] = value;
      break;
    case 3:
      frame[pos] = 0xcd;
      frame.writeUInt16BE(value, pos + 1);
      break;
    default:
      frame[pos] = 0xce;
      frame.writeUInt32BE(value, pos + 1);
  }
  return pos + size;
}
