/**
 * A session that floods the server for a while, in its own process (so that its CPU does not count
 * against the server's), as fast as its socket takes them (it holds back only while over 1 MiB is
 * unsent locally, and sends at most 10,000 frames a turn so that answers are read in between).
 * Kinds: `requests` (counter reads, each with a new id: the server runs them while the budget lasts),
 * `stale` (a request id already used: refused before any request runs), `junk` (unknown ops with ids,
 * and values that are not messages). Prints one JSON line when flooding and one with its tally at the
 * end (answers by code, `reply` for replies; the close code and when it came). Arguments: url,
 * duration in ms, kind (default `requests`).
 */
import { createRequire } from "node:module";
import { PROTOCOL_VERSION, decodeServerMessage, encode } from "@leasehold/protocol";
import type WsWebSocket from "../../packages/server/node_modules/@types/ws/index.js";

const WebSocket = createRequire(new URL("../../packages/server/package.json", import.meta.url))("ws") as typeof WsWebSocket;
const [url, durationArg, kind = "requests"] = process.argv.slice(2);
const duration = Number(durationArg ?? 2_000);
const refusals: Uint8Array[] =
  kind === "stale"
    ? [encode({ op: "counter.get", id: 1, name: "flood" })]
    : [encode({ op: "no.such.op", id: 10 }), encode(42), encode({ op: "lease.grant", id: 11, ttl: "long" })];
const tally = { sent: 0, answered: 0, codes: {} as Record<string, number>, unreadable: 0, closed: 0, closedAtMs: 0 };
const socket = new WebSocket(url!);
let id = 1;
let started = 0;

function nextFrame(index: number): Uint8Array {
  return kind === "requests" ? encode({ op: "counter.get", id: ++id, name: "flood" }) : refusals[index % refusals.length]!;
}

socket.on("open", () => socket.send(encode({ op: "hello", version: PROTOCOL_VERSION, agent: `flooder:${kind}` })));
socket.on("message", (data: Buffer) => {
  const decoded = decodeServerMessage(new Uint8Array(data));
  if (!decoded.ok) return void tally.unreadable++;
  const message = decoded.message;
  if (message.type === "welcome") {
    // One request, so that id 1 is taken (the stale kind reuses it).
    socket.send(encode({ op: "counter.get", id: 1, name: "flood" }));
    started = Date.now();
    console.log(JSON.stringify({ event: "flooding" }));
    flood();
  } else if (message.type === "error" || message.type === "reply") {
    tally.answered++;
    const code = message.type === "error" ? message.code : "reply";
    tally.codes[code] = (tally.codes[code] ?? 0) + 1;
  }
});
socket.on("close", (code: number) => {
  tally.closed = code;
  tally.closedAtMs = Date.now() - started;
});
socket.on("error", () => {});

function flood(): void {
  const over = Date.now() - started >= duration;
  if (over || socket.readyState !== socket.OPEN) {
    // Cut off: nothing more can be sent; wait for the close to complete (up to the end of the time).
    if (!over && socket.readyState !== socket.CLOSED) return void setTimeout(flood, 50);
    // Let the last answers arrive, then report.
    setTimeout(report, 500);
    return;
  }
  for (let batch = 0; batch < 100 && socket.bufferedAmount < 1024 * 1024 && socket.readyState === socket.OPEN; batch++) {
    for (let i = 0; i < 100; i++) socket.send(nextFrame(i));
    tally.sent += 100;
  }
  setImmediate(flood);
}

function report(): void {
  console.log(JSON.stringify({ event: "done", ...tally, elapsedMs: Date.now() - started }));
  socket.terminate();
  process.exit(0);
}
