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

/** Writes what `stream` holds now, before it is destroyed (a destroyed stream drops what it held). */
export function flushWrites(stream: Wire): void {
  while (stream.writableCorked > 0) stream.uncork();
}

let corked: Wire[] = [];

function flushAll(): void {
  const streams = corked;
  corked = [];
  for (const stream of streams) flushWrites(stream);
}
