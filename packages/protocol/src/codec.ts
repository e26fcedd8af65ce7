import { Packr } from "msgpackr";
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { CLIENT_OPS, ClientMessage } from "./client-messages.js";
import { ErrorCode } from "./codes.js";
import { BOUNDS } from "./limits.js";
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

export function encode(message: unknown): Uint8Array {
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
  const raw = unpack(frame);
  if (!raw.ok) return raw;
  let parsed: ReturnType<typeof ClientMessage.safeParse>;
  try {
    parsed = ClientMessage.safeParse(raw.value);
  } catch (error) {
    // Thousands of nested arrays decode fine but exhaust the stack of a recursive check.
    const reason = error instanceof Error ? error.message : String(error);
    // The id, when readable, lets the server count the request as received, so that a resume does not re-send it.
    return { ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: `the message could not be checked (${reason}); values nest at most ${BOUNDS.maxValueDepth} deep`, id: readableId(raw.value) };
  }
  if (parsed.success) return { ok: true, message: parsed.data };
  return describeInvalid(raw.value, parsed.error);
}

/** The one place where a client checks what a server sent. */
export function decodeServerMessage(frame: Uint8Array): Decoded<ServerMessage> {
  const raw = unpack(frame);
  if (!raw.ok) return raw;
  const parsed = ServerMessage.safeParse(raw.value);
  if (parsed.success) return { ok: true, message: parsed.data };
  return { ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: `invalid server message: ${summarize(parsed.error)}` };
}

function unpack(frame: Uint8Array): { ok: true; value: unknown } | { ok: false; fatal: true; code: ErrorCode; error: string } {
  try {
    return { ok: true, value: packr.unpack(frame) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, fatal: true, code: ErrorCode.BAD_REQUEST, error: `frame is not valid msgpack: ${reason}` };
  }
}

function describeInvalid(value: unknown, error: z.core.$ZodError): Decoded<never> {
  const record = isPlainObject(value) ? value : undefined;
  const id = readableId(value);
  if (record === undefined) {
    return { ok: false, fatal: false, code: ErrorCode.BAD_REQUEST, error: "a message must be a msgpack map with an `op` field" };
  }
  if (typeof record.op !== "string" || !CLIENT_OPS.includes(record.op)) {
    const op = typeof record.op === "string" ? `"${record.op.slice(0, 64)}"` : "missing";
    return { ok: false, fatal: false, code: ErrorCode.UNKNOWN_OP, error: `unknown op ${op}; known ops: ${CLIENT_OPS.join(", ")}`, id };
  }
  const outOfRange = hasRangeIssue(error.issues);
  return {
    ok: false,
    fatal: false,
    code: outOfRange ? ErrorCode.OUT_OF_RANGE : ErrorCode.BAD_REQUEST,
    error: `invalid ${record.op}: ${summarize(error)}`,
    id,
  };
}

function summarize(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "message"}: ${describeIssue(issue)}`)
    .join("; ");
}

/** A message's `id`, when it is one a request could have (a positive safe integer). */
function readableId(value: unknown): number | undefined {
  const id = isPlainObject(value) ? value.id : undefined;
  return typeof id === "number" && Number.isSafeInteger(id) && id > 0 ? id : undefined;
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

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code !== "invalid_union") return issue.message;
  // Name the closest branch's complaint rather than a bare "Invalid input".
  const inner = issue.errors.flat().find((candidate) => candidate.code === "too_big" || candidate.code === "too_small") ?? issue.errors.flat()[0];
  return inner ? inner.message : issue.message;
}
