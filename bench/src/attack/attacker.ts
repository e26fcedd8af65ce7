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

/**
 * Decodes a reply, remembering the last few refusals by their bytes: a flood's refusals repeat byte
 * for byte (the server encodes each once), and decoding each through the protocol's checks took the
 * attacker's core, so that under load it stopped reading, and the server cut it off as a slow consumer
 * (4006) within a second: the flood ended before the bystander was timed.
 */
const seenRefusals = new Map<string, ReturnType<typeof decodeServerMessage>>();
function decodeTallied(data: Buffer): ReturnType<typeof decodeServerMessage> {
  const key = data.length <= 256 ? data.toString("latin1") : undefined;
  const seen = key === undefined ? undefined : seenRefusals.get(key);
  if (seen !== undefined) return seen;
  const decoded = decodeServerMessage(new Uint8Array(data));
  if (key !== undefined && decoded.ok && decoded.message.type === "error" && seenRefusals.size < 64) seenRefusals.set(key, decoded);
  return decoded;
}

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
      const decoded = decodeTallied(data);
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
      if (performance.now() >= deadline) return resolve();
      if (socket.readyState !== WebSocket.OPEN) {
        // Closed by the server (its close event comes only once the socket ends, after the tally).
        bump(tally.closes, `closed after ${Math.round(performance.now() - started)} ms`);
        return resolve();
      }
      // At most 10,000 frames a turn: a socket that drains as fast as it is written (the server reading
      // on the other core) never reaches 1 MiB unsent, and the loop never yielded to read the replies,
      // so that the server cut the attacker off as a slow consumer (4006) and the flood ended.
      for (let batch = 0; batch < 100 && socket.bufferedAmount < 1024 * 1024; batch++) {
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
