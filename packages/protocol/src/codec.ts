import { Packr } from "msgpackr";
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { CLIENT_OPS, ClientMessage } from "./client-messages.js";
import { ErrorCode } from "./codes.js";
import { scanFrame, type FrameProblem } from "./frame-scan.js";
import { describeIssues, MAX_QUOTED } from "./issue-text.js";
import { encodePlain, encodePlainTransient, encodeReplyPlainTransient, encodedLengthPlain } from "./plain-encoder.js";
import { acceptReply } from "./reply-fast-path.js";
import { readCommonReply } from "./reply-reader.js";
import { acceptCommonRequest } from "./request-fast-path.js";
import { readCommonRequest } from "./request-reader.js";
import { ServerMessage } from "./server-messages.js";

/**
 * One msgpack value per binary WebSocket frame, in plain msgpack only: maps with string keys, no
 * msgpackr records or other extension types on the wire, so that any msgpack library can speak it.
 * Object properties whose value is `undefined` are left out rather than sent as an extension.
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  encodeUndefinedAsNil: true,
  int64AsType: "number",
  // Binary values are copied out of the frame: a view would keep the whole socket read buffer alive
  // for as long as the value is stored or held by the application.
  copyBuffers: true,
  // Known to msgpackr's encoder (it drops properties holding these values) but missing from its typings.
  ...{ skipValues: [undefined] },
});

/**
 * zod/mini ships no message texts, which keeps the browser bundle small; a server calls this once so
 * that its refusals explain themselves ("Too small: expected number to be >=0").
 */
export function useEnglishErrorMessages(): void {
  z.config(en());
}

/** The plainest messages (every common request and reply) are written by hand (plain-encoder.ts), the rest by msgpackr: the same bytes either way. */
export function encode(message: unknown): Uint8Array {
  return encodePlain(message) ?? packr.pack(message);
}

/**
 * The bytes of `encode(message)`, valid only until the next call: the plainest messages are a view of
 * the hand-written encoder's scratch buffer, which that call overwrites. For a caller that copies them
 * at once (the server's reply frame): one copy and one ArrayBuffer per reply fewer.
 */
export function encodeTransient(message: unknown): Uint8Array {
  return encodePlainTransient(message) ?? packr.pack(message);
}

/**
 * `encodeTransient({ type: "reply", id, result })`, with the envelope's constant bytes copied in rather
 * than written by walking its keys (plain-encoder.ts, `encodeReplyPlainTransient`).
 */
export function encodeReplyTransient(id: number, result: Record<string, unknown>): Uint8Array {
  return encodeReplyPlainTransient(id, result) ?? packr.pack({ type: "reply", id, result });
}

/** `encode(value).byteLength`, without keeping the bytes (the logical size of a stored value, kv.put's per write). */
export function encodedLength(value: unknown): number {
  return encodedLengthPlain(value) ?? packr.pack(value).byteLength;
}

/** `encode` through msgpackr alone: what the hand-written encoder is held to (plain-encoder.test.ts). */
export function encodeFully(message: unknown): Uint8Array {
  return packr.pack(message);
}

/** Plain msgpack decoding of trusted bytes (a server's own stored values). Untrusted frames go through the decoders below. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** Decoding failures say whether the stream can still be trusted (`fatal: false`: reply with an error and go on). */
export type Decoded<T> =
  | { ok: true; message: T }
  | { ok: false; fatal: boolean; code: ErrorCode; error: string; id?: number };

/** The one place where a server checks what a client sent. Everything past it is typed. */
export function decodeClientMessage(frame: Uint8Array): Decoded<ClientMessage> {
  // The common requests in their plainest form are read straight from the bytes (request-reader.ts);
  // every other frame, and every refusal, takes the full path.
  const common = readCommonRequest(frame);
  return common !== undefined ? { ok: true, message: common } : decodeClientMessageFully(frame);
}

/** `decodeClientMessage` without the reader of plain common requests: what the reader is held to (request-reader.test.ts). */
export function decodeClientMessageFully(frame: Uint8Array): Decoded<ClientMessage> {
  const read = readFrame(frame);
  if (!read.ok) return read;
  if (read.problem) return { ok: false, fatal: false, code: read.problem.code, error: read.problem.error, id: requestIdOf(read.value) };
  // The common requests, when well formed, skip zod's parse; everything else (every refusal) goes through it.
  const common = acceptCommonRequest(read.value);
  if (common !== undefined) return { ok: true, message: common };
  const parsed = ClientMessage.safeParse(read.value);
  if (parsed.success) return { ok: true, message: parsed.data };
  return describeInvalid(read.value, parsed.error);
}

/** The one place where a client checks what a server sent: the same scan, and anything amiss is fatal. */
export function decodeServerMessage(frame: Uint8Array): Decoded<ServerMessage> {
  // The common replies in their plainest form are read straight from the bytes (reply-reader.ts);
  // every other frame, and every refusal, takes the full path.
  const reply = readCommonReply(frame);
  return reply !== undefined ? { ok: true, message: reply } : decodeServerMessageFully(frame);
}

/** `decodeServerMessage` without the reader of plain common replies: what the reader is held to (reply-reader.test.ts). */
export function decodeServerMessageFully(frame: Uint8Array): Decoded<ServerMessage> {
  const read = readFrame(frame);
  if (!read.ok) return read;
  if (read.problem) return { ok: false, fatal: true, code: read.problem.code, error: `invalid server message: ${read.problem.error}` };
  const reply = acceptReply(read.value);
  if (reply !== undefined) return { ok: true, message: reply };
  const parsed = ServerMessage.safeParse(read.value);
  if (parsed.success) return { ok: true, message: parsed.data };
  return { ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: `invalid server message: ${describeIssues(read.value, parsed.error.issues)}` };
}

type Read = { ok: true; value: unknown; problem: FrameProblem | undefined } | { ok: false; fatal: true; code: ErrorCode; error: string };

/** Scans an untrusted frame (see frame-scan.ts), then decodes it with msgpackr, which can then build only what the bytes hold. */
function readFrame(frame: Uint8Array): Read {
  const scan = scanFrame(frame);
  if (!scan.readable) return { ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: `frame refused: ${scan.error}` };
  let value: unknown;
  try {
    value = packr.unpack(frame);
  } catch (error) {
    // Not expected after the scan. msgpackr's texts can quote the decoded value: keep only their start.
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: `frame is not valid msgpack: ${reason.slice(0, MAX_QUOTED)}` };
  }
  const problem = scan.problem ?? (countMapKeys(value) === scan.mapEntries ? undefined : DUPLICATE_KEYS);
  return { ok: true, value, problem };
}

const DUPLICATE_KEYS: FrameProblem = { code: ErrorCode.BAD_REQUEST, error: "a map holds the same key twice; keys must be unique" };

/** Map entries in a decoded value (which the scan bounded in size and depth); fewer than the frame declared means a key came twice and the last won. */
function countMapKeys(value: unknown): number {
  let keys = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item !== "object" || item === null || item instanceof Uint8Array) continue;
    if (Array.isArray(item)) {
      for (const child of item) stack.push(child);
      continue;
    }
    for (const key in item) {
      keys++;
      stack.push((item as Record<string, unknown>)[key]);
    }
  }
  return keys;
}

function requestIdOf(value: unknown): number | undefined {
  const id = isPlainObject(value) ? value.id : undefined;
  return typeof id === "number" && Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

function describeInvalid(value: unknown, error: z.core.$ZodError): Decoded<never> {
  const record = isPlainObject(value) ? value : undefined;
  const id = requestIdOf(value);
  if (record === undefined) {
    return { ok: false, fatal: false, code: ErrorCode.BAD_REQUEST, error: "a message must be a msgpack map with an `op` field" };
  }
  if (typeof record.op !== "string" || !CLIENT_OPS.includes(record.op)) {
    const op = typeof record.op === "string" ? `"${record.op.slice(0, MAX_QUOTED)}"` : "missing";
    return { ok: false, fatal: false, code: ErrorCode.UNKNOWN_OP, error: `unknown op ${op}; known ops: ${CLIENT_OPS.join(", ")}`, id };
  }
  const outOfRange = hasRangeIssue(error.issues);
  return {
    ok: false,
    fatal: false,
    code: outOfRange ? ErrorCode.OUT_OF_RANGE : ErrorCode.BAD_REQUEST,
    error: `invalid ${record.op}: ${describeIssues(value, error.issues)}`,
    id,
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** A number out of its range, also inside a union (`wait: true | ms`), is OUT_OF_RANGE rather than BAD_REQUEST. */
function hasRangeIssue(issues: readonly z.core.$ZodIssue[]): boolean {
  return issues.some((issue) => {
    if (issue.code === "too_big" || issue.code === "too_small") return true;
    if (issue.code !== "invalid_union") return false;
    const branches = issue.errors.filter((branch) => !branch.every((inner) => inner.code === "invalid_value" || inner.code === "invalid_type"));
    return branches.some((branch) => hasRangeIssue(branch));
  });
}
