import { get } from "node:https";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { connect } from "@leasehold/client";
import { startClient, startServer } from "../support/fixtures.js";
import { makeCertificates } from "../support/security.js";

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

describe("TLS", () => {
  it("serves wss:// and https:// end to end with a self-signed CA that the client is told to trust", async () => {
    const pki = makeCertificates();
    const server = await startServer({ tls: { cert: pki.cert, key: pki.key } });
    expect(server.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    expect(server.security.tls).toBe(true);

    const client = await startClient(server.url, { ca: pki.ca });
    const lease = await client.leases.grant(5_000);
    const lock = await client.locks.acquire("tls/job", lease.id);
    expect(lock.acquired).toBe(true);
    await client.put("tls/key", "over TLS");
    expect((await client.get("tls/key"))?.value).toBe("over TLS");

    const health = await httpsGet(`https://127.0.0.1:${server.port}/healthz`, pki.ca);
    expect(health).toEqual({ status: 200, body: "ok\n" });

    // Without the CA the certificate is not trusted; plain ws:// to a TLS port gets nowhere.
    await expect(connect(server.url, { autoReconnect: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    await expect(connect(server.url.replace("wss:", "ws:"), { autoReconnect: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
  });

  it("a connection past the per-address rate is closed before any TLS handshake: no certificate is sent, no CPU spent on it", async () => {
    const pki = makeCertificates();
    const server = await startServer({ tls: { cert: pki.cert, key: pki.key }, maxNewConnectionsPerSecond: 1 });
    expect(await tlsHandshake(server.port, pki.ca)).toBe("secured");
    expect(await tlsHandshake(server.port, pki.ca)).toBe("closed before the handshake");
  });
});

/** Opens a TLS connection: "secured" once the handshake completes, or how it failed. */
function tlsHandshake(port: number, ca: string): Promise<"secured" | "closed before the handshake"> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      resolve("secured");
      socket.destroy();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET" || /socket disconnected before secure TLS connection/i.test(error.message)) resolve("closed before the handshake");
      else reject(error);
    });
  });
}

