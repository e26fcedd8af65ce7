import { createHash } from "node:crypto";
import type { StoredState } from "./storage.js";
import { decodeState, encodeState } from "./stored-tables.js";

/**
 * The backup file (`leasehold backup`, `restore`, `import`), version 1. Two parts:
 *
 * 1. A header: one line of JSON after the word `leasehold-backup` and a space, ended by `\n`, so that
 *    `head -1 FILE` shows what a file holds: `{"format":1,"kind":"sqlite","source":"/var/lib/leasehold",
 *    "takenAt":"2026-11-28T12:00:00.000Z","maxToken":41,"maxRevision":57,"bodyBytes":1234,"bodySha256":"…"}`.
 * 2. The body: the stored tables (`StoredState`, every row of every table) as one msgpack value, as
 *    etcd snapshots hold them (stored-tables.ts), `bodyBytes` long, with the SHA-256 in the header.
 *
 * Readers refuse a file with a `format` above their own (written by a newer release), a body of
 * another length (truncated) or another checksum (damaged). A later format adds fields to the header
 * or bumps `format`; this version ignores header fields it does not know.
 */
export const BACKUP_FORMAT = 1;

export type BackupKind = "sqlite" | "etcd";

export interface BackupHeader {
  format: number;
  /** The kind of store it was taken from. */
  kind: BackupKind;
  /** The data directory or the etcd endpoints and prefix, for people. */
  source: string;
  /** ISO 8601, the time of the read. */
  takenAt: string;
  /** Largest fencing token of a hold in the backup (0 with none). */
  maxToken: number;
  /** The store's revision: every token and key revision handed out before the backup is at most this. */
  maxRevision: number;
  bodyBytes: number;
  bodySha256: string;
}

export interface Backup {
  header: BackupHeader;
  state: StoredState;
}

/** A file that is not a backup this release can read: what is wrong with it, for people. */
export class BackupFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackupFileError";
  }
}

/** The file's bytes for `state`, read from `source` at `takenAt`, and their header. */
export function encodeBackup(state: StoredState, kind: BackupKind, source: string, takenAt: Date): { bytes: Uint8Array; header: BackupHeader } {
  const body = encodeState(state);
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    kind,
    source,
    takenAt: takenAt.toISOString(),
    maxToken: state.holds.reduce((max, hold) => Math.max(max, hold.token), 0),
    maxRevision: state.revision,
    bodyBytes: body.length,
    bodySha256: sha256(body),
  };
  return { bytes: Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`, "utf8"), body]), header };
}

/** Reads a backup file's bytes; throws BackupFileError, naming `name`, for anything but a whole, intact file of a known format. */
export function decodeBackup(bytes: Uint8Array, name: string): Backup {
  const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (!file.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) throw new BackupFileError(`${name} is not a leasehold backup (it does not start with "${MAGIC.trim()}")`);
  const end = file.indexOf(0x0a, MAGIC.length);
  if (end < 0 || end > MAGIC.length + MAX_HEADER_BYTES) throw new BackupFileError(`${name} is damaged or truncated: its header line has no end`);
  const header = parseHeader(file.subarray(MAGIC.length, end).toString("utf8"), name);
  const body = file.subarray(end + 1);
  if (body.length !== header.bodyBytes) {
    throw new BackupFileError(`${name} is ${body.length < header.bodyBytes ? "truncated" : "damaged"}: its body has ${body.length} bytes, its header says ${header.bodyBytes}`);
  }
  if (sha256(body) !== header.bodySha256) throw new BackupFileError(`${name} is damaged: its body does not match the checksum in its header`);
  let state: StoredState;
  try {
    state = decodeState(body);
  } catch (error) {
    throw new BackupFileError(`${name} has a body this release cannot read (${error instanceof Error ? error.message : String(error)})`);
  }
  return { header, state };
}

const MAGIC = "leasehold-backup ";
/** A header is a few hundred bytes; a longer first line means the file is something else. */
const MAX_HEADER_BYTES = 64 * 1024;

function parseHeader(text: string, name: string): BackupHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BackupFileError(`${name} is damaged: its header is not JSON`);
  }
  const header = (typeof raw === "object" && raw !== null ? raw : {}) as Partial<BackupHeader>;
  const wholeNumber = (value: unknown) => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
  if (!wholeNumber(header.format)) throw new BackupFileError(`${name} is damaged: its header has no format version`);
  // Checked before the other fields: a newer format may have changed them.
  if ((header.format ?? 0) > BACKUP_FORMAT) {
    throw new BackupFileError(`${name} has backup format ${header.format}, written by a newer leasehold; this one reads format ${BACKUP_FORMAT}: restore it with the release that wrote it`);
  }
  const complete =
    (header.kind === "sqlite" || header.kind === "etcd") &&
    wholeNumber(header.maxToken) &&
    wholeNumber(header.maxRevision) &&
    wholeNumber(header.bodyBytes) &&
    typeof header.bodySha256 === "string" &&
    typeof header.takenAt === "string" &&
    typeof header.source === "string";
  if (!complete) {
    throw new BackupFileError(`${name} is damaged: its header lacks a field of format ${BACKUP_FORMAT} (kind, source, takenAt, maxToken, maxRevision, bodyBytes, bodySha256)`);
  }
  return header as BackupHeader;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
