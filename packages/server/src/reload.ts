import { readFileSync } from "node:fs";
import type { Server as HttpsServer } from "node:https";
import { createSecureContext } from "node:tls";
import { principalId, type Accounts } from "./core/accounts.js";
import type { Guard } from "./auth/guard.js";
import type { Session } from "./core/model.js";

/** TLS for createServer: the certificate and key themselves, or the files that hold them (read again at each reload). */
export type TlsOptions = { cert: string | Buffer; key: string | Buffer } | { certFile: string; keyFile: string };

/** What a reload did, for its log line. */
export interface ReloadReport {
  /** What authentication accepts now, as in the startup line ("off", "on: 3 static tokens, JWT (HS256)"). */
  readonly auth: string;
  /** Whether a certificate was read again (TLS given as files). */
  readonly tls: boolean;
  /** Connected sessions closed with 4003 because their token was removed. */
  readonly closed: readonly { session: string; principal: string }[];
}

/**
 * Rotating secrets without a restart (`server.reload()`, the CLI's SIGHUP): the token file, the JWT
 * key files and the TLS certificate and key are read again and put in use for new connections and
 * handshakes. All or nothing: every file is read and checked before anything changes, so a file
 * caught half-written, or a certificate that does not match its key, leaves the server as it was.
 * Sessions are carried over by Guard.reauthorize (their rights follow the file; a connected session
 * whose token is gone is closed with 4003), and each token's account takes the token's limits now.
 */
export function reloadSecrets(
  guard: Guard,
  sessions: Iterable<Session>,
  accounts: Accounts,
  tls: { options: TlsOptions; server: HttpsServer } | undefined,
): ReloadReport {
  const credentials = guard.authenticator.reread();
  const certificate = tls && "certFile" in tls.options ? readCertificate(tls.options) : undefined;
  // Everything is read and checked: from here on nothing can fail.
  const successor = guard.authenticator.replace(credentials);
  if (tls && certificate) tls.server.setSecureContext(certificate);
  const closed = guard.reauthorize(sessions, successor);
  for (const principal of credentials.tokens?.principals() ?? []) accounts.relimit(principalId(principal), principal.limits);
  return { auth: guard.authenticator.describe(), tls: certificate !== undefined, closed };
}

/**
 * The certificate and key, read from their files when given as files, and checked to make a usable
 * pair (Node would otherwise fail only at the first TLS handshake, or at `listen`).
 */
export function readCertificate(tls: TlsOptions): { cert: string | Buffer; key: string | Buffer } {
  const where = "certFile" in tls ? `the TLS certificate ${tls.certFile} and key ${tls.keyFile}` : "the TLS certificate and key";
  try {
    const pair = "certFile" in tls ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : tls;
    createSecureContext(pair);
    return pair;
  } catch (error) {
    throw new Error(`${where} cannot be used: ${error instanceof Error ? error.message : String(error)}`);
  }
}
