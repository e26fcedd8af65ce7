import type { Wire } from "./peer-socket.js";

/**
 * One write per turn for all the messages sent to a socket in it. ws writes each message as soon as
 * it is sent (a writev of header and payload): a client that pipelines requests, whose frames arrive
 * in one read and are answered back to back, cost a syscall per reply. The first message of a turn
 * corks the stream; the rest queue behind it; all go out in one writev when the current callback
 * (the read that delivered the frames, the commit that released the replies) has run, before any
 * other I/O. Measured (A/B, a client pipelining 16 kv.get per read, loaded 2-core machine): see
 * BENCHMARKS.md, "Where the time goes".
 *
 * Process-wide rather than per server: it holds only the streams corked in the current tick.
 */
export function batchWrites(stream: Wire): void {
  // ws corks and uncorks around its own two writes; those nest inside this one.
  if (stream.writableCorked > 0) return;
  stream.cork();
  corked.push(stream);
  if (corked.length === 1) process.nextTick(flushAll);
}

/**
 * As `batchWrites`, but held until the end of the turn (after the poll phase, in which every ready
 * socket was read) rather than the end of the callback: for a stream fed by many sockets' callbacks, a
 * follower's link to the leader, which relays each client's frames and the ACKs of a turn. Written one
 * by one, they cost the follower a syscall each: writes were a third of a follower's CPU at 17,600 sessions
 * (bench cluster-sessions, CPU profile: writev and writeBuffer 72 s of 209 s busy).
 */
export function batchWritesForTurn(stream: Wire): void {
  if (stream.writableCorked > 0) return;
  stream.cork();
  corkedForTurn.push(stream);
  if (corkedForTurn.length === 1) setImmediate(flushTurn);
}

/** Writes what `stream` holds now, before it is destroyed (a destroyed stream drops what it held). */
export function flushWrites(stream: Wire): void {
  while (stream.writableCorked > 0) stream.uncork();
}

let corked: Wire[] = [];
let corkedForTurn: Wire[] = [];

function flushAll(): void {
  const streams = corked;
  corked = [];
  for (const stream of streams) flushWrites(stream);
}

function flushTurn(): void {
  const streams = corkedForTurn;
  corkedForTurn = [];
  for (const stream of streams) flushWrites(stream);
}
