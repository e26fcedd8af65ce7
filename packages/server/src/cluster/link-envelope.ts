/**
 * The envelopes of a multiplexed link between a follower gateway and the leader (PROTOCOL.md, "The
 * gateway-to-leader link"): one binary WebSocket message each, a 5-byte head (kind, then the stream
 * id as a big-endian u32) and the kind's payload. The follower names each client connection it
 * carries with a stream id of its own choosing; the leader serves every stream as a connection.
 */
export const LINK_HEADER = "x-leasehold-link";
/** The value of LINK_HEADER that asks for a multiplexed link (its version is part of it). */
export const LINK_VERSION = "multiplex/1";

export const Kind = {
  /** Follower → leader: a client connected; payload: JSON `{ ip, address }` as the follower saw them. */
  OPEN: 1,
  /** Both ways: one binary WebSocket message of the stream's client, as it is. */
  BINARY: 2,
  /** Follower → leader: one text message of the client (which the leader refuses, as on a direct socket). */
  TEXT: 3,
  /** Both ways: the stream ended; payload: the close code (u16) and its reason (UTF-8). Code 1006: dropped without a close. */
  CLOSE: 4,
  /** Follower → leader: bytes of the stream's messages written to its client since the last ACK (u32). */
  ACK: 5,
  /** Leader → follower: stop reading the stream's client (a flood being throttled, a JWT being checked). */
  PAUSE: 6,
  /** Leader → follower: read the stream's client again. */
  RESUME: 7,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** A client connection's origin, as its follower saw it. */
export interface StreamPeer {
  ip: string;
  address: string;
}

export type Envelope =
  | { kind: typeof Kind.OPEN; stream: number; peer: StreamPeer }
  | { kind: typeof Kind.BINARY | typeof Kind.TEXT; stream: number; data: Buffer }
  | { kind: typeof Kind.CLOSE; stream: number; code: number; reason: string }
  | { kind: typeof Kind.ACK; stream: number; bytes: number }
  | { kind: typeof Kind.PAUSE | typeof Kind.RESUME; stream: number };

/** The code a CLOSE carries for a stream whose other end vanished without a close (as ws reports it). */
export const DROPPED = 1006;

/** Longest address accepted in an OPEN: an IPv6 address with zone and port fits well within it. */
const MAX_ADDRESS_LENGTH = 100;
/** An envelope's head: a link carries messages this much larger than a client's. */
export const LINK_HEAD_BYTES = 5;
const HEAD = LINK_HEAD_BYTES;

export function encodeOpen(stream: number, peer: StreamPeer): Buffer {
  return withHead(Kind.OPEN, stream, Buffer.from(JSON.stringify({ ip: peer.ip, address: peer.address }), "utf8"));
}

/** A client's message (BINARY or TEXT) or the leader's reply (BINARY): the payload is copied once, behind the head. */
export function encodeData(stream: number, data: Uint8Array, isBinary = true): Buffer {
  return withHead(isBinary ? Kind.BINARY : Kind.TEXT, stream, data);
}

export function encodeClose(stream: number, code: number, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 120), "utf8");
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return withHead(Kind.CLOSE, stream, payload);
}

export function encodeAck(stream: number, bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(Math.min(bytes, 0xffff_ffff), 0);
  return withHead(Kind.ACK, stream, payload);
}

export function encodeFlow(stream: number, kind: typeof Kind.PAUSE | typeof Kind.RESUME): Buffer {
  return withHead(kind, stream, new Uint8Array(0));
}

/** Reads one envelope; a reason (a string) when it is not one, which ends the link. */
export function decodeEnvelope(data: Buffer): Envelope | string {
  if (data.length < HEAD) return `an envelope of ${data.length} bytes is shorter than its ${HEAD}-byte head`;
  const kind = data[0];
  const stream = data.readUInt32BE(1);
  const payload = data.subarray(HEAD);
  switch (kind) {
    case Kind.OPEN: {
      const peer = readPeer(payload);
      return peer ?? `the OPEN of stream ${stream} does not name the client's ip and address`;
    }
    case Kind.BINARY:
    case Kind.TEXT:
      return { kind, stream, data: payload };
    case Kind.CLOSE:
      if (payload.length < 2) return `the CLOSE of stream ${stream} has no code`;
      return { kind, stream, code: payload.readUInt16BE(0), reason: payload.subarray(2).toString("utf8") };
    case Kind.ACK:
      if (payload.length !== 4) return `the ACK of stream ${stream} is not a u32`;
      return { kind, stream, bytes: payload.readUInt32BE(0) };
    case Kind.PAUSE:
    case Kind.RESUME:
      return { kind, stream };
    default:
      return `unknown envelope kind ${kind}`;
  }

  function readPeer(json: Buffer): Envelope | undefined {
    let value: unknown;
    try {
      value = JSON.parse(json.toString("utf8"));
    } catch {
      return undefined;
    }
    if (typeof value !== "object" || value === null) return undefined;
    const { ip, address } = value as Record<string, unknown>;
    if (typeof ip !== "string" || typeof address !== "string") return undefined;
    if (ip === "" || ip.length > MAX_ADDRESS_LENGTH || address.length > MAX_ADDRESS_LENGTH) return undefined;
    return { kind: Kind.OPEN, stream, peer: { ip, address: address === "" ? ip : address } };
  }
}

function withHead(kind: Kind, stream: number, payload: Uint8Array): Buffer {
  const envelope = Buffer.allocUnsafe(HEAD + payload.length);
  envelope[0] = kind;
  envelope.writeUInt32BE(stream, 1);
  envelope.set(payload, HEAD);
  return envelope;
}
