import { once } from "node:events";
import { Socket, createServer, connect } from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { deliverReadsDirectly } from "./read-shortcut.js";

/**
 * read-shortcut.ts on real TCP sockets (the server's accepted sockets; the client's are ws's, frame-reader.socket.test.ts): the common read goes to the one 'data' listener without the
 * Readable's push, and everything else (a paused stream, its buffer and back-pressure, the end, a
 * second listener) is Node's as before. Also the canary for the Node internals it reads.
 */
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

/** A TCP connection on 127.0.0.1: the accepted side with the shortcut installed, and the peer. */
async function pair(): Promise<{ accepted: Socket; peer: Socket; installed: boolean }> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const acceptedNow = once(server, "connection") as Promise<[Socket]>;
  const peer = connect(port, "127.0.0.1");
  const [accepted] = await acceptedNow;
  await once(peer, "connect").catch(() => undefined);
  cleanup.push(() => {
    peer.destroy();
    accepted.destroy();
    server.close();
  });
  return { accepted, peer, installed: deliverReadsDirectly(accepted) };
}

/** Bytes 0..n-1, modulo 251, so that a chunk lost, repeated or reordered shows. */
function pattern(n: number, from = 0): Buffer {
  const bytes = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) bytes[i] = (from + i) % 251;
  return bytes;
}

describe("deliverReadsDirectly", () => {
  it("is installed on a TCP socket with Node's internals as expected (a Node upgrade that changes them fails here)", async () => {
    const { accepted, installed } = await pair();
    expect(installed).toBe(true);
    expect(Object.hasOwn(accepted, "push")).toBe(true);
  });

  it("is not installed on a stream that is not a socket (a link stream keeps Node's path)", () => {
    const stream = new PassThrough();
    expect(deliverReadsDirectly(stream)).toBe(false);
    expect(Object.hasOwn(stream, "push")).toBe(false);
  });

  it("is not installed on a socket whose _read is not net's own, nor twice", async () => {
    class OwnRead extends Socket {
      override _read(size: number): void {
        super._read(size);
      }
    }
    expect(deliverReadsDirectly(new OwnRead())).toBe(false);
    const { accepted } = await pair();
    expect(deliverReadsDirectly(accepted)).toBe(false);
  });

  it("hands a flowing socket's reads to its one 'data' listener without emitting 'data'", async () => {
    const { accepted, peer } = await pair();
    const emit = vi.spyOn(accepted, "emit");
    const seen: Buffer[] = [];
    accepted.on("data", (chunk: Buffer) => seen.push(chunk));
    peer.write(pattern(100));
    await vi.waitFor(() => expect(Buffer.concat(seen).length).toBe(100));
    expect(Buffer.concat(seen)).toEqual(pattern(100));
    expect(emit.mock.calls.filter(([event]) => (event as string) === "data")).toEqual([]);
  });

  it("leaves a paused socket's reads to Node: buffered past the high-water mark, the handle stopped, all delivered in order once resumed", async () => {
    const { accepted, peer } = await pair();
    const total = 4 * 1024 * 1024;
    const seen: Buffer[] = [];
    let received = 0;
    let paused = false;
    accepted.on("data", (chunk: Buffer) => {
      seen.push(chunk);
      received += chunk.length;
      // Paused once after the first megabyte, as ws pauses a socket under back-pressure.
      if (!paused && received >= 1024 * 1024) {
        paused = true;
        accepted.pause();
      }
    });
    peer.write(pattern(total));
    await vi.waitFor(() => expect(paused).toBe(true));
    // The stream buffers what arrives meanwhile and, past its high-water mark, stops reading the handle.
    await vi.waitFor(() => expect(accepted.readableLength).toBeGreaterThanOrEqual(accepted.readableHighWaterMark));
    const whilePaused = received;
    accepted.resume();
    await vi.waitFor(() => expect(received).toBe(total), { timeout: 5_000 });
    expect(whilePaused).toBeLessThan(total);
    expect(Buffer.concat(seen).equals(pattern(total))).toBe(true);
  });

  it("gives every listener each chunk when there are two, and the end of the stream as before", async () => {
    const { accepted, peer } = await pair();
    const first: Buffer[] = [];
    const second: Buffer[] = [];
    accepted.on("data", (chunk: Buffer) => first.push(chunk));
    accepted.on("data", (chunk: Buffer) => second.push(chunk));
    const ended = once(accepted, "end");
    peer.end(pattern(1000));
    await ended;
    expect(Buffer.concat(first)).toEqual(pattern(1000));
    expect(Buffer.concat(second)).toEqual(pattern(1000));
  });

  it("ends the stream after the reads it shortened", async () => {
    const { accepted, peer } = await pair();
    const seen: Buffer[] = [];
    accepted.on("data", (chunk: Buffer) => seen.push(chunk));
    const ended = once(accepted, "end");
    peer.write(pattern(10));
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0));
    peer.end(pattern(10, 10));
    await ended;
    expect(Buffer.concat(seen)).toEqual(pattern(20));
  });
});
