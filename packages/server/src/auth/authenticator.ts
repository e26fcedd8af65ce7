import { JwtVerifier, type JwtOptions } from "./jwt.js";
import { ANONYMOUS, type Principal } from "./permissions.js";
import { StaticTokens, type StaticToken } from "./static-tokens.js";

/** Authentication settings of `createServer`. Giving any of them turns authentication on. */
export interface AuthOptions {
  /** Static tokens, each with a name and its permissions. */
  tokens?: StaticToken[];
  /** A JSON file `{ "tokens": [...] }` with the same entries (the CLI's `--auth-file`). Read once at start. */
  tokensFile?: string;
  /** Signed JWTs (HS256, RS256, ES256) with their permissions in the `leasehold` claim. */
  jwt?: JwtOptions | JwtVerifier;
}

/** The outcome of a handshake's credential check. */
export type Admission = { ok: true; principal: Principal } | { ok: false; reason: string };

const ADMIT_ANONYMOUS: Admission = { ok: true, principal: ANONYMOUS };

/**
 * Turns the `auth` string of a `hello` into a principal. With authentication off every connection
 * is ANONYMOUS (unrestricted) and the answer is synchronous; static tokens are answered synchronously
 * too; JWTs are verified asynchronously (jose uses WebCrypto), and the connection holds its frames
 * meanwhile. Reasons never quote the credential: they go to logs and to the client.
 */
export class Authenticator {
  readonly #tokens: StaticTokens | undefined;
  readonly #jwt: JwtVerifier | undefined;

  constructor(options: AuthOptions | undefined) {
    const entries = [...(options?.tokens ?? []), ...(options?.tokensFile === undefined ? [] : StaticTokens.readFile(options.tokensFile))];
    // Any token list, even an empty one, turns authentication on: a list that came out empty must not open the server.
    this.#tokens = options?.tokens !== undefined || options?.tokensFile !== undefined ? new StaticTokens(entries, options?.tokensFile ?? "auth tokens") : undefined;
    const jwt = options?.jwt;
    this.#jwt = jwt === undefined ? undefined : jwt instanceof JwtVerifier ? jwt : new JwtVerifier(jwt);
  }

  /** True when connections must present a credential. */
  get enabled(): boolean {
    return this.#tokens !== undefined || this.#jwt !== undefined;
  }

  /** For the startup line: what is accepted, without any secret. */
  describe(): string {
    if (!this.enabled) return "off";
    const parts: string[] = [];
    if (this.#tokens) parts.push(`${this.#tokens.size} static token${this.#tokens.size === 1 ? "" : "s"}`);
    if (this.#jwt) parts.push(`JWT (${this.#jwt.algorithms.join(", ")})`);
    return `on: ${parts.join(", ")}`;
  }

  authenticate(credential: string | undefined): Admission | Promise<Admission> {
    if (!this.enabled) return ADMIT_ANONYMOUS;
    if (credential === undefined || credential.length === 0) {
      return { ok: false, reason: "this server requires authentication: pass a token or JWT as hello.auth" };
    }
    if (this.#jwt && looksLikeJwt(credential)) {
      return this.#jwt.verify(credential).then(
        (principal): Admission => ({ ok: true, principal }),
        (error: unknown): Admission => ({ ok: false, reason: error instanceof Error ? error.message : "the JWT was refused" }),
      );
    }
    const principal = this.#tokens?.find(credential);
    if (principal) return { ok: true, principal };
    return { ok: false, reason: this.#tokens ? "the token is not known to this server" : "the credential is not a JWT, and this server accepts only JWTs" };
  }
}

/** Compact JWS: three base64url parts separated by dots. Static tokens are not expected to have this shape. */
function looksLikeJwt(credential: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(credential);
}
