import { JwtVerifier, type JwtFiles, type JwtOptions } from "./jwt.js";
import { ANONYMOUS, type Principal } from "./permissions.js";
import { StaticTokens, type StaticToken } from "./static-tokens.js";

/** Authentication settings of `createServer`. Giving any of them turns authentication on. */
export interface AuthOptions {
  /** Static tokens, each with a name and its permissions. */
  tokens?: StaticToken[];
  /** A JSON file `{ "tokens": [...] }` with the same entries (the CLI's `--auth-file`). Read at start and at each reload. */
  tokensFile?: string;
  /** Signed JWTs (HS256, RS256, ES256) with their permissions in the `leasehold` claim. */
  jwt?: JwtOptions | JwtVerifier;
  /** The same, with the key read from files (the CLI's `--jwt-secret-file`, `--jwt-public-key`), at start and at each reload. */
  jwtFiles?: JwtFiles;
}

/** What a reload read and checked, not yet in use (see Authenticator.reread). */
export interface Credentials {
  readonly tokens: StaticTokens | undefined;
  readonly jwt: JwtVerifier | undefined;
}

/**
 * After a reload, the principal that a principal admitted before it has now: the same token's new
 * entry (its permissions may have changed), undefined when its token is no longer accepted. JWT
 * principals carry over unchanged: their tickets were checked at the handshake and are short-lived.
 */
export type Successor = (principal: Principal) => Principal | undefined;

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
  readonly #options: AuthOptions | undefined;
  #tokens: StaticTokens | undefined;
  #jwt: JwtVerifier | undefined;

  constructor(options: AuthOptions | undefined) {
    if (options?.jwt !== undefined && options.jwtFiles !== undefined) throw new Error("give auth.jwt or auth.jwtFiles, not both");
    this.#options = options;
    ({ tokens: this.#tokens, jwt: this.#jwt } = this.reread());
  }

  /**
   * Reads and checks the token file and the JWT key files (again), without putting anything in use:
   * throws, with a message that names the file and the problem, if any of them is unusable. Tokens
   * and keys given in-process are taken as they were given.
   */
  reread(): Credentials {
    const options = this.#options;
    const entries = [...(options?.tokens ?? []), ...(options?.tokensFile === undefined ? [] : StaticTokens.readFile(options.tokensFile))];
    // Any token list, even an empty one, turns authentication on: a list that came out empty must not open the server.
    const tokens = options?.tokens !== undefined || options?.tokensFile !== undefined ? new StaticTokens(entries, options?.tokensFile ?? "auth tokens") : undefined;
    const jwt = options?.jwt;
    if (jwt !== undefined) return { tokens, jwt: jwt instanceof JwtVerifier ? jwt : new JwtVerifier(jwt) };
    return { tokens, jwt: options?.jwtFiles === undefined ? undefined : JwtVerifier.fromFiles(options.jwtFiles) };
  }

  /** Puts credentials from `reread` in use for every handshake from now on. */
  replace(next: Credentials): Successor {
    const previous = this.#tokens;
    this.#tokens = next.tokens;
    this.#jwt = next.jwt;
    return (principal) => (principal.via === "token" ? previous?.successor(principal, next.tokens) : principal);
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
