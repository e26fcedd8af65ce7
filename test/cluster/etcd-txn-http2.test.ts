import { once } from "node:events";
import { constants, createServer, type Http2Server, type Http2Session, type ServerHttp2Stream } from "node:http2";
import { Socket, type AddressInfo } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { EtcdClient, EtcdRequestError, type Compare, type TxnOp } from "../../packages/server/src/cluster/etcd-client.js";
import { encodeTxnRequest } from "../../packages/server/src/cluster/etcd-txn-codec.js";
import { defer } from "../support/fixtures.js";

/**
 * EtcdClient's transaction, sent over node:http2 (cluster/grpc-unary.ts), against HTTP/2 servers in
 * the test that play a misbehaving etcd member: each records the requests it received, then answers,
 * resets the stream, drops the connection, goes away or stays silent. The rule under test: a
 * transaction is sent once; whatever leaves its outcome unknown rejects with `outcomeUnknown` and is
 * not sent again (not on the same member, not on the next one), and the next call goes to the next member.
 */
describe("EtcdClient's transaction over node:http2", () => {
  it("rejects a reset stream as an unknown outcome, sends it nowhere again, and sends the next one to the next member", async () => {
    const resets = await fakeMember((stream) => stream.close(constants.NGHTTP2_INTERNAL_ERROR));
    const answers = await fakeMember(answer(REVISION));
    const client = clientOf([resets.url, answers.url]);
    const failure = await client.txn(...COMMIT).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EtcdRequestError);
    expect((failure as EtcdRequestError).outcomeUnknown).toBe(true);
    expect((failure as Error).message).toBe(`etcd request to ${resets.url} failed: 13 INTERNAL: Received RST_STREAM with code 2`);
    expect(client.endpoint).toBe(answers.url);
    expect(await client.txn(...NEXT)).toEqual({ succeeded: true, revision: REVISION, ranges: [] });
    // The first member saw the commit once; the second saw only the next transaction, so nothing was sent twice.
    expect(resets.requests).toEqual([encodeTxnRequest(...COMMIT)]);
    expect(answers.requests).toEqual([encodeTxnRequest(...NEXT)]);
  });

  it("rejects a call whose connection drops as an unknown outcome, and opens a new connection for the next", async () => {
    let calls = 0;
    const member = await fakeMember((stream) => (++calls === 1 ? stream.session?.destroy() : answer(REVISION)(stream)));
    const client = clientOf([member.url]);
    const failure = await client.txn(...COMMIT).catch((error: unknown) => error);
    expect((failure as EtcdRequestError).outcomeUnknown).toBe(true);
    expect((failure as Error).message).toBe(`etcd request to ${member.url} failed: 14 UNAVAILABLE: Connection dropped`);
    expect((await client.txn(...NEXT)).revision).toBe(REVISION);
    expect(member.requests).toEqual([encodeTxnRequest(...COMMIT), encodeTxnRequest(...NEXT)]);
    expect(member.sessions).toBe(2);
  });

  it("opens a new connection after the member says it goes away", async () => {
    const member = await fakeMember((stream) => {
      answer(REVISION)(stream);
      stream.session?.goaway(constants.NGHTTP2_NO_ERROR);
    });
    const client = clientOf([member.url]);
    expect((await client.txn(...COMMIT)).revision).toBe(REVISION);
    await vi.waitFor(() => expect(member.goneAway).toBe(1));
    expect((await client.txn(...NEXT)).revision).toBe(REVISION);
    expect(member.sessions).toBe(2);
  });

  it("rejects at its deadline a call that a member holds without an answer: an unknown outcome, not sent again", async () => {
    const silent = await fakeMember(() => undefined);
    const client = new EtcdClient([silent.url], { writeTimeoutMs: 300 });
    defer(() => client.close());
    const started = performance.now();
    const failure = await client.txn(...COMMIT).catch((error: unknown) => error);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect((failure as EtcdRequestError).outcomeUnknown).toBe(true);
    // The call gets what is left of the 300 ms write deadline when it starts: a millisecond or two less on a busy
    // machine (299 ms once in CI), in the message and in what etcd is told alike.
    const message = (failure as Error).message;
    const left = Number(/Deadline exceeded after (\d+) ms$/.exec(message)?.[1]);
    expect(message).toBe(`etcd request to ${silent.url} failed: 4 DEADLINE_EXCEEDED: Deadline exceeded after ${left} ms`);
    expect(left).toBeGreaterThanOrEqual(290);
    expect(left).toBeLessThanOrEqual(300);
    // etcd is told the deadline too, so that it gives up on its side.
    expect(silent.timeouts).toEqual([`${left}m`]);
    expect(silent.requests).toHaveLength(1);
  });

  it("reports etcd's refusal with its status and message, outcome known, and stays on the member", async () => {
    const refuses = await fakeMember(status(3, "etcdserver: request is too large"));
    const client = clientOf([refuses.url, "http://127.0.0.1:1"]);
    const failure = await client.txn(...COMMIT).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EtcdRequestError);
    expect((failure as EtcdRequestError).outcomeUnknown).toBe(false);
    expect((failure as Error).message).toBe(`etcd request to ${refuses.url} failed: 3 INVALID_ARGUMENT: etcdserver: request is too large`);
    expect(client.endpoint).toBe(refuses.url);
  });

  it("reports etcd's transient failure (its raft proposal timed out) as an unknown outcome", async () => {
    const member = await fakeMember(status(14, "etcdserver: request timed out"));
    const client = clientOf([member.url]);
    const failure = await client.txn(...COMMIT).catch((error: unknown) => error);
    expect((failure as EtcdRequestError).outcomeUnknown).toBe(true);
    expect((failure as Error).message).toBe(`etcd request to ${member.url} failed: 14 UNAVAILABLE: etcdserver: request timed out`);
  });

  it("rejects an answer it cannot decode as an unknown outcome (etcd may have applied it)", async () => {
    const member = await fakeMember(answerBytes(Buffer.from([0x0a, 0x7f, 0x18])));
    const client = clientOf([member.url]);
    const failure = await client.txn(...COMMIT).catch((error: unknown) => error);
    expect((failure as EtcdRequestError).outcomeUnknown).toBe(true);
    expect((failure as Error).message).toMatch(/failed: 13 INTERNAL: the answer could not be decoded: a length of 127 runs past the end/);
  });

  it("rejects at once a call to a member that refuses the connection, and the next goes to the next member", async () => {
    const answers = await fakeMember(answer(REVISION));
    const closed = await fakeMember(() => undefined);
    await closed.close();
    const client = clientOf([closed.url, answers.url]);
    const failure = await client.txn(...COMMIT).catch((error: unknown) => error);
    expect((failure as EtcdRequestError).outcomeUnknown).toBe(true);
    expect((failure as Error).message).toMatch(/failed: 14 UNAVAILABLE: .*ECONNREFUSED/);
    expect(client.endpoint).toBe(answers.url);
    expect((await client.txn(...NEXT)).succeeded).toBe(true);
    expect(answers.requests).toEqual([encodeTxnRequest(...NEXT)]);
  });

  it("keeps the process alive while a call waits on its connection, and not once none does", async () => {
    const held: ServerHttp2Stream[] = [];
    const member = await fakeMember((stream) => held.push(stream));
    const client = clientOf([member.url]);
    const port = Number(new URL(member.url).port);
    // Our sockets to the member that keep the process alive: Node lists only those among its active
    // handles (undocumented, but the one way to see a socket's ref from outside; ref'd = listed).
    const process_ = process as unknown as { _getActiveHandles(): unknown[] };
    const keepingAlive = () => process_._getActiveHandles().filter((handle) => handle instanceof Socket && handle.remotePort === port).length;
    const call = client.txn(...COMMIT);
    await vi.waitFor(() => expect(held).toHaveLength(1));
    expect(keepingAlive()).toBe(1);
    answer(REVISION)(held[0]!);
    expect((await call).revision).toBe(REVISION);
    expect(keepingAlive()).toBe(0);
  });
});

const REVISION = 41;
const COMMIT: [Compare[], TxnOp[], TxnOp[]] = [
  [{ key: "/p/leader", createRevision: 7 }, { key: "/p/log/2", createRevision: 0 }],
  [{ op: "put", key: "/p/log/2", value: Uint8Array.from([1, 2, 3]) }],
  [{ op: "get", key: "/p/leader" }],
];
const NEXT: [Compare[], TxnOp[], TxnOp[]] = [[{ key: "/p/log/3", createRevision: 0 }], [{ op: "put", key: "/p/log/3", value: Uint8Array.from([4]) }], []];

interface FakeMember {
  url: string;
  /** Each request's message, as received (without the 5-byte gRPC head). */
  requests: Buffer[];
  /** Each request's grpc-timeout header. */
  timeouts: string[];
  sessions: number;
  goneAway: number;
  close(): Promise<void>;
}

/** An HTTP/2 server on 127.0.0.1 that reads each request in full, then hands its stream to `behave`. */
async function fakeMember(behave: (stream: ServerHttp2Stream) => void): Promise<FakeMember> {
  const server: Http2Server = createServer();
  const open = new Set<Http2Session>();
  const member: FakeMember = { url: "", requests: [], timeouts: [], sessions: 0, goneAway: 0, close: () => closeServer(server, open) };
  server.on("session", (session) => {
    member.sessions++;
    open.add(session);
    session.on("close", () => open.delete(session));
    session.on("error", () => undefined);
    const goaway = session.goaway.bind(session);
    session.goaway = (...args: Parameters<typeof session.goaway>) => {
      member.goneAway++;
      goaway(...args);
    };
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    member.timeouts.push(String(headers["grpc-timeout"]));
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      member.requests.push(Buffer.concat(chunks).subarray(5));
      behave(stream);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  member.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  defer(() => member.close());
  return member;
}

async function closeServer(server: Http2Server, sessions: Set<Http2Session>): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const session of sessions) session.destroy();
  await closed;
}

function clientOf(endpoints: string[]): EtcdClient {
  const client = new EtcdClient(endpoints, { writeTimeoutMs: 5_000 });
  defer(() => client.close());
  return client;
}

/** A TxnResponse { header { revision }, succeeded: true }, encoded by hand: field 1 (header) holding field 3, then field 2. */
function answer(revision: number): (stream: ServerHttp2Stream) => void {
  return answerBytes(Buffer.from([0x0a, 0x02, 0x18, revision, 0x10, 0x01]));
}

function answerBytes(message: Buffer): (stream: ServerHttp2Stream) => void {
  return (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(message.length, 1);
    stream.end(Buffer.concat([head, message]));
  };
}

/** A trailers-only answer: the status in the headers, as grpc-go sends an error. */
function status(code: number, message: string): (stream: ServerHttp2Stream) => void {
  return (stream) => stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(code), "grpc-message": encodeURIComponent(message) }, { endStream: true });
}
