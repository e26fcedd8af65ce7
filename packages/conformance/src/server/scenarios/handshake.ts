import { check, checkError, type Scenario } from "../scenario.js";

const REQUIRED_LIMITS = ["maxFrameBytes", "minTtlMs", "maxTtlMs", "maxWaitMs", "maxSessions", "maxLeasesPerSession", "maxWaitersPerLock", "maxLocksPerSession", "maxWatchesPerSession"];

/** Section 2: hello, welcome, version negotiation and the other handshake failures. */
export const handshakeScenarios: Scenario[] = [
  {
    name: "handshake.welcome",
    section: "2 Handshake",
    async run(kit) {
      const { welcome } = await kit.session();
      check(welcome.version === 1, `welcome.version should be 1, got ${String(welcome.version)}`);
      check(typeof welcome.session === "string" && welcome.session.length >= 1 && welcome.session.length <= 64, "welcome.session should be a string of 1-64 characters");
      check(typeof welcome.secret === "string" && welcome.secret.length >= 1 && welcome.secret.length <= 128, "welcome.secret should be a string of 1-128 characters");
      check(welcome.resumed === false, "a hello without resume should get resumed: false");
      check(!("resync" in welcome), "resync must be absent when resumed is false");
      check(Number.isInteger(welcome.heartbeat) && (welcome.heartbeat as number) > 0, "welcome.heartbeat should be a positive integer");
      const limits = welcome.limits as Record<string, unknown>;
      for (const key of REQUIRED_LIMITS) check(Number.isInteger(limits?.[key]), `welcome.limits.${key} should be an integer`);
    },
  },
  {
    name: "versions.unsupported",
    section: "2 Handshake (version negotiation)",
    async run(kit) {
      for (const version of [0, 2, 999]) {
        const connection = await kit.raw();
        connection.send({ op: "hello", version });
        const { message } = await connection.next((m) => m.type === "error", 5_000, `the error to hello version ${version}`);
        checkError(message, "UNSUPPORTED_VERSION", `hello with version ${version}`);
        check(!("id" in message), "a handshake error carries no id");
        check(String(message.message).includes("1"), `the UNSUPPORTED_VERSION message should name the versions the server speaks, got "${String(message.message)}"`);
        const closed = await connection.closes();
        check(closed.code === 4001, `hello with version ${version} should close with 4001, closed with ${closed.code}`);
      }
    },
  },
  {
    name: "versions.unknown-fields-ignored",
    section: "2 Handshake; Versions (compatible changes)",
    async run(kit) {
      // A newer client may send fields this server does not know yet: they are ignored, not refused.
      const connection = await kit.raw();
      connection.send({ op: "hello", version: 1, futureField: { nested: [1, 2] } });
      const { message: welcome } = await connection.next((m) => m.type === "welcome" || m.type === "error", 5_000, "the welcome");
      check(welcome.type === "welcome", `a hello with an unknown field should be welcomed, got ${JSON.stringify(welcome)}`);
      const id = connection.nextId();
      connection.send({ op: "lease.grant", id, ttl: kit.ttl(5_000), futureField: true });
      const answer = await connection.answer(id);
      check(answer.type === "reply", `a request with an unknown field should be served, got ${JSON.stringify(answer)}`);
      await connection.call("bye");
    },
  },
  {
    name: "handshake.request-before-hello",
    section: "2 Handshake (other failures)",
    async run(kit) {
      const connection = await kit.raw();
      connection.send({ op: "lease.grant", id: 1, ttl: kit.ttl(5_000) });
      const { message } = await connection.next((m) => m.type === "error");
      checkError(message, "HANDSHAKE_REQUIRED", "a request before hello");
      check(!("id" in message), "the HANDSHAKE_REQUIRED error before hello carries no id");
      const closed = await connection.closes();
      check(closed.code === 4000, `a request before hello should close with 4000, closed with ${closed.code}`);
    },
  },
  {
    name: "handshake.invalid-hello",
    section: "2 Handshake (other failures)",
    async run(kit) {
      const connection = await kit.raw();
      connection.send({ op: "hello", version: "1" });
      const { message } = await connection.next((m) => m.type === "error");
      checkError(message, "BAD_REQUEST", 'hello with version "1"');
      const closed = await connection.closes();
      check(closed.code === 4000, `an invalid hello should close with 4000, closed with ${closed.code}`);
    },
  },
  {
    name: "handshake.second-hello",
    section: "2 Handshake (other failures)",
    async run(kit) {
      const { connection } = await kit.session();
      connection.send({ op: "hello", version: 1 });
      const { message } = await connection.next((m) => m.type === "error");
      checkError(message, "HANDSHAKE_REQUIRED", "a second hello");
      await connection.call("lease.grant", { ttl: kit.ttl(5_000) });
    },
  },
  {
    name: "handshake.resume-unknown-session",
    section: "2 Handshake (resume that fails)",
    async run(kit) {
      const { welcome } = await kit.session({ resume: { session: "no-such-session", secret: "no-such-secret" } });
      check(welcome.resumed === false, "resuming an unknown session should give resumed: false");
      check(welcome.session !== "no-such-session", "resuming an unknown session should give a new session id");
      check(!("resync" in welcome), "a failed resume has no resync");
    },
  },
];
