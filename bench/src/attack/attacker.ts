/**
 * A hostile peer for the "under attack" workload, in its own process so that its CPU is not the
 * harness's. Arguments: a JSON AttackConfig. Prints one JSON line `{ "attacking": true }` once it has
 * started and, after `durationMs`, one line with its tally, then exits.
 *
 * - `refused-frames`: one session floods requests that the server must refuse (every id after the
 *   first is stale), as fast as its socket takes them (it only holds back while 1 MiB is unsent).
 * - `park-sessions`: opens sessions as fast as it can, `parallel` at a time, each granting a day-long
 *   lease that is not kept alive and then dropping its connection, so that each session stays behind.
 * - `spin`: a control, not an attack: it only keeps one core busy, as an attacker process does, and
 *   sends nothing, so that what a busy two-core machine alone does to the bystander can be told
 *   apart from what the server does.
 */
import { PROTOCOL_VERSION, decodeServerMessage, encode } from "@leasehold/protocol";
import WebSocket from "ws";

export interface AttackConfig {
  url: string;
  mode: "refused-frames" | "park-sessions" | "spin";
  token: string;
  durationMs: number;
  /** Connections in flight at once (park-sessions). */
  parallel?: number;
}

export interface AttackTally {
  /** Frames sent. */
  sent: number;
  /** Replies that were refusals, by code. */
  refused: Record<string, number>;
  /** Sessions opened that were left behind with a lease (park-sessions). */
  parked: number;
  /** Close codes seen. */
  closes: Record<string, number>;
  elapsedMs: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as AttackConfig;
const tally: AttackTally = { sent: 0, refused: {}, parked: 0, closes: {}, elapsedMs: 0 };
const started = performance.now();
const deadline = started + config.durationMs;
const bump = (counts: Record<string, number>, key: string) => (counts[key] = (counts[key] ?? 0) + 1);

/** Opens a socket and says hello; resolves once welcomed, rejects when refused or closed first. */
function session(onMessage: (message: ReturnType<typeof decodeServerMessage>, socket: WebSocket) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(config.url);
    socket.on("error", () => undefined);
    socket.on("open", () => socket.send(encode({ op: "hello", version: PROTOCOL_VERSION, agent: `attacker:${config.mode}`, auth: config.token })));
    socket.on("close", (code: number) => {
      bump(tally.closes, String(code));
      reject(new Error(`closed with ${code}`));
    });
    socket.on("message", (data: Buffer) => {
      const decoded = decodeServerMessage(new Uint8Array(data));
      if (decoded.ok && decoded.message.type === "welcome") resolve(socket);
      else if (decoded.ok && decoded.message.type === "error") bump(tally.refused, decoded.message.code);
      onMessage(decoded, socket);
    });
  });
}

async function refusedFrames(): Promise<void> {
  const socket = await session(() => undefined);
  // The first request takes id 1; every later frame reuses it and must be refused as stale.
  const stale = encode({ op: "counter.get", id: 1, name: "attack" });
  await new Promise<void>((resolve) => {
    const flood = () => {
      if (performance.now() >= deadline || socket.readyState !== WebSocket.OPEN) return resolve();
      while (socket.bufferedAmount < 1024 * 1024) {
        for (let i = 0; i < 100; i++) socket.send(stale);
        tally.sent += 100;
      }
      setImmediate(flood);
    };
    flood();
  });
  socket.terminate();
}

async function parkSessions(): Promise<void> {
  const parkOne = async () => {
    let socket: WebSocket | undefined;
    try {
      socket = await session((decoded, open) => {
        if (decoded.ok && decoded.message.type === "reply") {
          tally.parked++;
          open.terminate();
        }
      });
      socket.send(encode({ op: "lease.grant", id: 1, ttl: 86_400_000, keepAlive: false }));
      tally.sent += 2;
      await new Promise((resolve) => socket!.once("close", resolve));
    } catch {
      // Refused or closed: counted by the listeners above.
      socket?.terminate();
      // A refused attacker retries at once: that is the attack. Yield so the loop cannot starve I/O.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(
    Array.from({ length: config.parallel ?? 8 }, async () => {
      while (performance.now() < deadline) await parkOne();
    }),
  );
}

process.stdout.write(`${JSON.stringify({ attacking: true })}\n`);
function spin(): void {
  while (performance.now() < deadline) {
    // Burn the core in slices, so the process still exits on time.
    for (let i = 0; i < 1e6; i++) tally.sent += 0;
  }
}

if (config.mode === "spin") spin();
else await (config.mode === "refused-frames" ? refusedFrames() : parkSessions());
tally.elapsedMs = performance.now() - started;
process.stdout.write(`${JSON.stringify(tally)}\n`);
process.exit(0);
