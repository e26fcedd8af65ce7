import type { Duplex } from "node:stream";
import { CloseCode } from "@leasehold/protocol";
import type { Logger } from "pino";
import type WebSocket from "ws";
import { batchWrites } from "../connection/write-batch.js";
import type { TurnBudget } from "../connection/turn-budget.js";
import { Kind, decodeEnvelope, type StreamPeer } from "./link-envelope.js";
import { LinkStream, type StreamCarrier } from "./link-stream.js";

/** What a link needs of its server. */
export interface LinkHost {
  /** The turn budget of every socket: a link's envelopes take turns with the other sockets' frames. */
  readonly turns: TurnBudget;
  readonly logger: Logger | undefined;
  /** A client connected through the follower: serve `stream` as a connection (or refuse it). */
  opened(stream: LinkStream, peer: StreamPeer): void;
  /** A stream the host was given has ended, whichever side ended it. */
  ended(stream: LinkStream): void;
}

/**
 * The leader's end of a follower's multiplexed link (PROTOCOL.md, "The gateway-to-leader link"): a
 * WebSocket whose upgrade proved the cluster secret, carrying many clients' connections as streams.
 * Each stream is served by a Connection of its own (link-stream.ts), so the hello authenticates each
 * client, per-address limits count the client's address, and the slow-consumer rule applies per
 * stream. A malformed envelope means a broken gateway: the link closes (4000), and with it every
 * stream; the follower then closes their clients with 1012 and they resume.
 */
export class LeaderLink implements StreamCarrier {
  readonly #streams = new Map<number, LinkStream>();
  #broken = false;

  constructor(
    readonly socket: WebSocket,
    readonly raw: Duplex,
    readonly host: LinkHost,
  ) {
    socket.on("message", (data, isBinary) => this.#onEnvelope(data as Buffer, isBinary));
    socket.on("close", () => this.#dropAll());
    socket.on("error", () => socket.terminate());
  }

  get streams(): number {
    return this.#streams.size;
  }

  send(envelope: Buffer): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    batchWrites(this.raw);
    this.socket.send(envelope);
  }

  ended(stream: LinkStream): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.host.ended(stream);
  }

  #onEnvelope(data: Buffer, isBinary: boolean): void {
    if (this.#broken) return;
    // A link carries many clients: it gets the turn budget of as many sockets, not of one. Budgeted as
    // one, its streams shared 16 envelopes a turn: at 12,500 sessions on 16 links, a loaded leader fell
    // behind their pongs until clients gave their leases up (4,231 lost, bench cluster-sessions).
    this.host.turns.frame(this.socket, this.host.turns.framesPerTurn * Math.max(1, this.#streams.size));
    const envelope = isBinary ? decodeEnvelope(data) : "a text message on a link";
    if (typeof envelope === "string") return this.#refuse(envelope);
    const stream = this.#streams.get(envelope.stream);
    switch (envelope.kind) {
      case Kind.OPEN: {
        if (stream) return this.#refuse(`stream ${envelope.stream} was opened twice`);
        const opened = new LinkStream(this, envelope.stream, envelope.peer.ip, envelope.peer.address);
        this.#streams.set(opened.id, opened);
        this.host.opened(opened, envelope.peer);
        return;
      }
      // Envelopes for a stream that has just ended (each side may end it) cross its CLOSE: ignored.
      case Kind.BINARY:
      case Kind.TEXT:
        return stream?.received(envelope.data, envelope.kind === Kind.BINARY);
      case Kind.CLOSE:
        return stream?.closedByPeer();
      case Kind.ACK:
        return stream?.acknowledged(envelope.bytes);
      default:
        return this.#refuse(`a follower may not send envelope kind ${envelope.kind}`);
    }
  }

  #refuse(reason: string): void {
    this.#broken = true;
    this.host.logger?.warn({ reason }, "multiplexed link closed: a malformed envelope");
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(CloseCode.PROTOCOL_ERROR, reason.slice(0, 120));
    this.#dropAll();
  }

  #dropAll(): void {
    for (const stream of [...this.#streams.values()]) stream.closedByPeer();
  }
}
