import { Command } from "commander";
import { AdminMirror, type AdminLockView } from "@leasehold/client";
import { ExitCode } from "./exit-codes.js";
import { withClient, withConnectionOptions, type ConnectionOptions } from "./options.js";
import { action, printUntilInterrupted } from "./run.js";
import { formatValue, printLine } from "./values.js";

interface StatusOptions extends ConnectionOptions {
  json?: boolean;
  watch?: boolean;
}

/** `leasehold status`: sessions, leases, locks with their holders and queues, from the admin feed. */
export function statusCommand(): Command {
  return withConnectionOptions(new Command("status"))
    .description("show sessions, leases, locks (holders and queue depth) and elections (needs the admin right)")
    .option("--watch", "redraw on every change until interrupted")
    .option("--json", "print the state as JSON (with --watch, one line per change)")
    .action(
      action(async (options: StatusOptions) =>
        withClient(options, async (client) => {
          const mirror = new AdminMirror();
          const feed = client.admin.subscribe();
          if (options.watch) {
            return printUntilInterrupted(feed, (update) => {
              mirror.apply(update);
              if (!mirror.synced) return;
              if (options.json) printLine(formatValue(snapshot(mirror)));
              else process.stdout.write(`${process.stdout.isTTY ? "\x1b[2J\x1b[H" : "\n"}${render(mirror)}`);
            });
          }
          try {
            for await (const update of feed) {
              mirror.apply(update);
              if (mirror.synced) break;
            }
          } finally {
            feed.close();
          }
          process.stdout.write(options.json ? `${formatValue(snapshot(mirror))}\n` : render(mirror));
          return ExitCode.OK;
        }),
      ),
    );
}

/** The mirror as one JSON document. */
function snapshot(mirror: AdminMirror) {
  return {
    revision: mirror.revision,
    sessions: [...mirror.sessions.values()],
    leases: [...mirror.leases.values()],
    locks: [...mirror.locks.values()],
    elections: [...mirror.elections.values()],
  };
}

/** The terminal view: a summary line, then one table each for locks, elections, sessions and leases. */
function render(mirror: AdminMirror): string {
  const now = mirror.serverNow();
  const age = (since: number) => seconds(now - since);
  const detached = [...mirror.sessions.values()].filter((session) => !session.connected).length;
  const held = [...mirror.locks.values()].filter((lock) => lock.held > 0).length;
  const waiting = [...mirror.locks.values()].reduce((sum, lock) => sum + lock.waiting, 0);
  const holders = (entry: AdminLockView) =>
    entry.holders.map((holder) => `${mirror.agentOf(holder.session)} #${holder.token}${holder.mode === "shared" ? " shared" : ""} ${age(holder.since)}`).join(", ") +
    (entry.held > entry.holders.length ? ` and ${entry.held - entry.holders.length} more` : "");
  const longestWait = (entry: AdminLockView) => (entry.waiters[0] === undefined ? "" : age(entry.waiters[0].since));
  const sections = [
    `revision ${mirror.revision}: ${mirror.sessions.size} sessions (${detached} detached), ${mirror.leases.size} leases, ${held} locks held, ${waiting} waiting, ${mirror.elections.size} elections`,
    table(
      ["LOCK", "KIND", "HELD", "WAITING", "LONGEST WAIT", "HOLDERS (agent #token held for)"],
      [...mirror.locks.values()].sort(byName).map((lock) => [lock.name, lock.limit === undefined ? lock.kind : `${lock.kind}/${lock.limit}`, String(lock.held), String(lock.waiting), longestWait(lock), holders(lock)]),
    ),
    table(
      ["ELECTION", "CANDIDATES", "LEADER (agent #token leading for)"],
      [...mirror.elections.values()].sort(byName).map((election) => [election.name, String(election.waiting), holders(election) || "vacant"]),
    ),
    table(
      ["SESSION", "AGENT", "ADDRESS", "CONNECTED", "AGE"],
      [...mirror.sessions.values()].map((session) => [session.session, session.agent ?? "", session.address, session.connected ? "yes" : "no (detached)", age(session.since)]),
    ),
    table(
      ["LEASE", "SESSION", "TTL", "KEPT ALIVE", "EXPIRES IN"],
      [...mirror.leases.values()].map((lease) => [String(lease.lease), mirror.agentOf(lease.session), seconds(lease.ttl), lease.keepAlive ? "yes" : "no", lease.expiresAt === undefined ? "" : seconds(lease.expiresAt - now)]),
    ),
  ];
  return `${sections.filter((section) => section !== "").join("\n\n")}\n`;
}

/** Left-aligned columns, two spaces apart; nothing at all for an empty table. */
function table(header: string[], rows: string[][]): string {
  if (rows.length === 0) return "";
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()).join("\n");
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1_000).toFixed(1)}s`;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
