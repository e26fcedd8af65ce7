import { describeHandshake, HANDSHAKE_BYTES, HANDSHAKE_DEADLINE_MS } from "../scenarios/handshake.js";
import { AUTH_OPTIONS } from "../support/security.js";
import { singleServerWith } from "../support/target.js";

describeHandshake(singleServerWith({ ...AUTH_OPTIONS, handshakeTimeoutMs: HANDSHAKE_DEADLINE_MS, maxHandshakeBytes: HANDSHAKE_BYTES }));
