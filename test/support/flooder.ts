/**
 * A session that floods the server with requests for a while, as fast as its socket takes them
 * (it only holds back while over 1 MiB is unsent locally), in its own process so that its CPU does
 * not count against the server's. Prints one JSON line when connected and one with its tally at the
 * end. Arguments: url, duration in ms.
 */
import { createRequire } from "node:module";
import { PROTOCOL_VERSION, decodeServerMessage, encode } from "@leasehold/protocol";
import type WsWebSocket from "../../packages/server/node_modules/@types/ws/index.js";

const WebSocket = createRequire(new URL("../../packages/server/package.json", import.meta.url))("ws") as typeof WsWebSocket;
const [url, durationArg] = process.argv.slice(2);
const duration = Number(durationArg ?? 2_000);
const tally = { sent: 0, ok: 0, limited: 0, other: 0, unreadable: 0, closed: 0 as number };
const socket = new WebSocket(url!);
let id = 0;
let started = 0;

socket.on("open", () => socket.send(encode({ op: "hello", version: PROTOCOL_VERSION, agent: "flooder" })));
socket.on("message", (data: Buffer) => {
  const decoded = decodeServerMessage(new Uint8Array(data));
  if (!decoded.ok) return void tally.unreadable++;
  const message = decoded.message;
  if (message.type === "welcome") {
    started = Date.now();
    console.log(JSON.stringify({ event: "flooding" }));
    flood();
  } else if (message.type === "reply") tally.ok++;
  else if (message.type === "error") {
    if (message.code === "RATE_LIMITED") tally.limited++;
    else tally.other++;
  }
});
socket.on("close", (code: number) => {
  tally.closed = code;
});
socket.on("error", () => {});

function flood(): void {
  const over = Date.now() - started >= duration;
  if (over || socket.readyState !== socket.OPEN) {
    // Cut off: nothing more can be sent; wait for the close to complete (up to the end of the time).
    if (!over && socket.readyState !== socket.CLOSED) return void setTimeout(flood, 50);
    // Let the last replies arrive, then report.
    setTimeout(report, 500);
    return;
  }
  while (socket.bufferedAmount < 1024 * 1024 && socket.readyState === socket.OPEN) {
    for (let i = 0; i < 100; i++) socket.send(encode({ op: "counter.get", id: ++id, name: "flood" }));
    tally.sent += 100;
  }
  setImmediate(flood);
}

function report(): void {
  console.log(JSON.stringify({ event: "done", ...tally, elapsedMs: Date.now() - started }));
  socket.terminate();
  process.exit(0);
}
