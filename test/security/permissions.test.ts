import { createRequire } from "node:module";
import { Writable } from "node:stream";
import type { ServerOptions } from "@leasehold/server";
import { describeAuth } from "../scenarios/auth.js";
import { describeNoSecretsInLogs } from "../scenarios/no-secrets-in-logs.js";
import { AUTH_OPTIONS } from "../support/security.js";
import { singleServerWith } from "../support/target.js";

// pino is a dependency of the server package, not of the workspace root: load it from there.
const { pino } = createRequire(new URL("../../packages/server/package.json", import.meta.url))("pino") as {
  pino: (options: { level: string }, stream: Writable) => NonNullable<ServerOptions["logger"]>;
};

describeAuth(singleServerWith(AUTH_OPTIONS));

// Its logger at debug, into lines this test reads; the same scenario reads a cluster's gateways' lines.
const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(chunk.toString());
    done();
  },
});
describeNoSecretsInLogs({ ...singleServerWith({ ...AUTH_OPTIONS, logger: pino({ level: "debug" }, sink) }), logs: () => lines.join("") });
