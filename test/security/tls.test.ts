import { get } from "node:https";
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "@leasehold/client";
import { startClient, startServer } from "../support/fixtures.js";
import { makeCertificates } from "../support/security.js";
import { singleServerWith } from "../support/target.js";
import { describeRateBeforeTls, RATE_BEFORE_TLS_PER_SECOND } from "../scenarios/rate-before-tls.js";

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
});

const pki = makeCertificates({ removeAfterTest: false });
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));
describeRateBeforeTls(singleServerWith({ tls: { cert: pki.cert, key: pki.key }, maxNewConnectionsPerSecond: RATE_BEFORE_TLS_PER_SECOND }));
