// A lock holder in its own process, for tests that kill, pause or cut it off.
// Usage: holder.ts <url> <lock name> <ttl ms>. Prints JSON lines: {event:"acquired", token}, {event:"lost", code, at}.
import { connect } from "@leasehold/client";

const [url, name, ttl] = process.argv.slice(2);
if (!url || !name || !ttl) throw new Error("usage: holder.ts <url> <lock name> <ttl ms>");

const client = await connect(url);
const lease = await client.leases.grant(Number(ttl));
const lock = await client.locks.acquire(name, lease.id, { wait: true });
console.log(JSON.stringify({ event: "acquired", token: lock.token, session: client.sessionId }));
lock.signal.addEventListener("abort", () => {
  const reason = lock.signal.reason as { code?: string };
  console.log(JSON.stringify({ event: "lost", code: reason.code }));
});
// Stay alive until killed.
setInterval(() => {}, 60_000);
