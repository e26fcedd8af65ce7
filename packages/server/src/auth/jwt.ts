import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import { JWT_NAME_PREFIX, MAX_PRINCIPAL_NAME_LENGTH, parseGrants, type Principal } from "./permissions.js";

/** How the server checks JWTs ("tickets" minted by an application's backend). Give a secret, a public key, or both. */
export interface JwtOptions {
  /** HS256: the shared secret (at least 32 bytes). */
  secret?: string | Uint8Array;
  /** RS256 or ES256 (P-256): the public key in PEM (SPKI, "-----BEGIN PUBLIC KEY-----"). The algorithm follows the key. */
  publicKey?: string;
  /** When given, the `iss` claim must equal it. */
  issuer?: string;
  /** When given, the `aud` claim must contain it. */
  audience?: string;
  /** Allowed clock difference for `exp` and `nbf`, in seconds. Default 5. */
  clockToleranceSeconds?: number;
}

/** A JWT key read from files (the CLI's way), and the claims to check. */
export interface JwtFiles {
  /** HS256: a file holding the secret (surrounding whitespace dropped). */
  secretFile?: string;
  /** RS256 or ES256: a PEM file holding the public key. */
  publicKeyFile?: string;
  issuer?: string;
  audience?: string;
}

/** The claim that carries a ticket's permissions, in the token file's shape. */
export const PERMISSIONS_CLAIM = "leasehold";

type Key = { alg: "HS256"; key: Uint8Array } | { alg: "RS256" | "ES256"; key: KeyObject };

/**
 * Verifies JWTs with jose. A ticket needs `sub` (its name, after `jwt:`), `exp` (tickets are meant to be
 * short-lived) and the `leasehold` claim with its permissions; `iss` and `aud` are checked when
 * configured. Only the algorithms of the configured keys are accepted, so "none" or an HS256 ticket
 * signed with the RSA public key as its secret are refused.
 */
export class JwtVerifier {
  readonly #keys: Key[] = [];

  constructor(readonly options: JwtOptions) {
    if (options.secret !== undefined) {
      const secret = typeof options.secret === "string" ? new TextEncoder().encode(options.secret) : options.secret;
      if (secret.byteLength < 32) throw new Error("the JWT secret must be at least 32 bytes (HS256)");
      this.#keys.push({ alg: "HS256", key: secret });
    }
    if (options.publicKey !== undefined) {
      const key = createPublicKey(options.publicKey);
      if (key.asymmetricKeyType === "rsa") this.#keys.push({ alg: "RS256", key });
      else if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") this.#keys.push({ alg: "ES256", key });
      else throw new Error(`the JWT public key must be RSA (RS256) or EC P-256 (ES256), not ${key.asymmetricKeyType ?? "unknown"}`);
    }
    if (this.#keys.length === 0) throw new Error("JWT authentication needs a secret or a public key");
  }

  /** Reads the secret and the public key from files (the CLI's way); a secret file's surrounding whitespace is dropped. */
  static fromFiles(files: JwtFiles): JwtVerifier {
    return new JwtVerifier({
      secret: files.secretFile === undefined ? undefined : readFileSync(files.secretFile, "utf8").trim(),
      publicKey: files.publicKeyFile === undefined ? undefined : readFileSync(files.publicKeyFile, "utf8"),
      issuer: files.issuer,
      audience: files.audience,
    });
  }

  /** Algorithms accepted, for the startup line. */
  get algorithms(): string[] {
    return this.#keys.map((key) => key.alg);
  }

  /** The ticket's principal; throws an Error whose message says why it was refused (never quoting the ticket). */
  async verify(jwt: string): Promise<Principal> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(jwt).alg;
    } catch {
      throw new Error("the credential is not a well-formed JWT");
    }
    const key = this.#keys.find((candidate) => candidate.alg === alg);
    if (!key) throw new Error(`JWTs signed with ${String(alg)} are not accepted here (accepted: ${this.algorithms.join(", ")})`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(jwt, key.key, {
        algorithms: [key.alg],
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ["exp", "sub"],
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
      }));
    } catch (error) {
      throw new Error(describe(error));
    }
    const subject = payload.sub!;
    if (subject.length > MAX_PRINCIPAL_NAME_LENGTH) throw new Error(`the JWT's sub claim is longer than ${MAX_PRINCIPAL_NAME_LENGTH} characters`);
    let grants;
    try {
      grants = parseGrants(payload[PERMISSIONS_CLAIM], `the JWT's "${PERMISSIONS_CLAIM}" claim`);
    } catch (error) {
      throw new Error(error instanceof Error ? error.message : String(error));
    }
    return { name: `${JWT_NAME_PREFIX}${subject}`, via: "jwt", unrestricted: false, grants };
  }
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "the JWT has expired";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the JWT's signature does not match the server's key";
  if (error instanceof errors.JWTClaimValidationFailed) return `the JWT's ${error.claim} claim is not acceptable (${error.reason})`;
  if (error instanceof errors.JOSEError) return `the JWT was refused (${error.code})`;
  return "the JWT could not be verified";
}
