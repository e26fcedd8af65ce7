import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BOUNDS } from "@leasehold/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { StaticTokens, type StaticToken } from "./static-tokens.js";

const TOKEN = "0123456789abcdef";
const permissions = [{ prefix: "", allow: ["lock"] }];

/** Loads entries as the token file `tokens.json` would hold them, and returns the refusal. */
function refusal(entries: unknown): string {
  try {
    new StaticTokens(entries as StaticToken[], "tokens.json");
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the entries were accepted");
}

describe("the token file's entries", () => {
  it("become principals with their grants and their own limits under the server's names", () => {
    const digest = createHash("sha256").update(`${TOKEN}-ops`).digest("hex").toUpperCase();
    const tokens = new StaticTokens([
      { name: "workers", token: TOKEN, permissions: [{ prefix: "jobs/", allow: ["lock", "read"] }], limits: { maxSessions: 5_000, maxBytes: 1_024, maxTtlMs: 60_000 } },
      { name: "ops", sha256: digest, permissions: [{ prefix: "", allow: ["admin"] }] },
    ]);
    const workers = tokens.find(TOKEN);
    expect(workers).toMatchObject({ name: "workers", via: "token", unrestricted: false, limits: { maxSessionsPerPrincipal: 5_000, maxBytesPerPrincipal: 1_024, maxTtlMs: 60_000 } });
    expect(workers?.grants).toEqual([{ prefix: "jobs/", allow: new Set(["lock", "read"]) }]);
    // A digest in either case.
    expect(tokens.find(`${TOKEN}-ops`)).toMatchObject({ name: "ops" });
    expect(tokens.find(`${TOKEN}-ops`)?.limits).toBeUndefined();
  });

  // [case, entries, the refusal (the whole text, or a part of it)]
  const refused: [string, unknown, string | RegExp][] = [
    ["not an array", { name: "a" }, "tokens.json: tokens must be an array"],
    ["an entry that is not an object", [7], "tokens.json: tokens[0] must be an object { name, token | sha256, permissions }"],
    ["a name that is not a string", [{ name: 5, token: TOKEN, permissions }], "tokens.json: tokens[0].name must be a string of 1 to 128 characters"],
    ["an empty name", [{ name: "", token: TOKEN, permissions }], "tokens.json: tokens[0].name must be a string of 1 to 128 characters"],
    ["a name of 129 characters", [{ name: "n".repeat(129), token: TOKEN, permissions }], /tokens\[0\] \(n+\)\.name must be a string of 1 to 128 characters$/],
    ["a name in the JWT subjects' space", [{ name: "jwt:alice", token: TOKEN, permissions }], 'tokens.json: tokens[0] (jwt:alice).name "jwt:alice" starts with "jwt:", which is reserved for JWT subjects; rename it'],
    ["a short token", [{ name: "a", token: "short", permissions }], "tokens.json: tokens[0] (a).token must be a string of at least 16 characters"],
    ["a token that is not a string", [{ name: "a", token: 1234567890123456, permissions }], "tokens.json: tokens[0] (a).token must be a string of at least 16 characters"],
    ["a digest that is not 64 hex digits", [{ name: "a", sha256: "abc", permissions }], "tokens.json: tokens[0] (a).sha256 must be the token's SHA-256 in hex (64 hex digits)"],
    ["neither token nor digest", [{ name: "a", permissions }], 'tokens.json: tokens[0] (a) needs "token" (at least 16 characters) or "sha256" (64 hex digits)'],
    ["no permissions", [{ name: "a", token: TOKEN }], "tokens.json: tokens[0] (a).permissions must be an array of { prefix, allow }"],
    ["a grant that is not an object", [{ name: "a", token: TOKEN, permissions: ["lock"] }], "tokens.json: tokens[0] (a).permissions[0] must be an object { prefix, allow }"],
    ["a prefix that is not a string", [{ name: "a", token: TOKEN, permissions: [{ prefix: 3, allow: ["read"] }] }], 'tokens[0] (a).permissions[0].prefix must be a string of at most 512 characters ("" for every name)'],
    [`a prefix over ${BOUNDS.maxNameLength} UTF-16 units`, [{ name: "a", token: TOKEN, permissions: [{ prefix: "😀".repeat(BOUNDS.maxNameLength / 2 + 1), allow: ["read"] }] }], "permissions[0].prefix must be a string of at most 512"],
    ["an empty allow list", [{ name: "a", token: TOKEN, permissions: [{ prefix: "", allow: [] }] }], "tokens[0] (a).permissions[0].allow must be a non-empty array of rights (lock, steal, election, read, write, counter, watch, admin)"],
    ["an unknown right", [{ name: "a", token: TOKEN, permissions: [{ prefix: "", allow: ["read", "root"] }] }], 'tokens[0] (a).permissions[0].allow[1] names an unknown right "root"; rights are lock, steal'],
    ["limits that are not an object", [{ name: "a", token: TOKEN, permissions, limits: [5] }], 'tokens[0] (a).limits must be an object such as { "maxSessions": 5000 }; known limits: maxSessions, maxLeases, maxKeys, maxCounters, maxBytes, maxTtlMs'],
    ["a misspelt limit", [{ name: "a", token: TOKEN, permissions, limits: { maxSesions: 5 } }], 'tokens.json: tokens[0] (a).limits: unknown limit "maxSesions"; known limits: maxSessions, maxLeases'],
    ["a limit named after an Object method", [{ name: "a", token: TOKEN, permissions, limits: { toString: 5 } }], 'limits: unknown limit "toString"'],
    ["a limit named __proto__ (as JSON.parse makes it)", [{ name: "a", token: TOKEN, permissions, limits: JSON.parse('{"__proto__": 5}') as unknown }], 'limits: unknown limit "__proto__"'],
    ["a limit of 0", [{ name: "a", token: TOKEN, permissions, limits: { maxKeys: 0 } }], "tokens.json: tokens[0] (a).limits.maxKeys must be a positive integer, got 0"],
    ["a negative limit", [{ name: "workers", token: TOKEN, permissions, limits: { maxSessions: -1 } }], "tokens.json: tokens[0] (workers).limits.maxSessions must be a positive integer, got -1"],
    ["a limit as a string", [{ name: "a", token: TOKEN, permissions, limits: { maxKeys: "10" } }], 'limits.maxKeys must be a positive integer, got "10"'],
    ["a fractional limit", [{ name: "a", token: TOKEN, permissions, limits: { maxKeys: 1.5 } }], "limits.maxKeys must be a positive integer, got 1.5"],
    ["two entries of one name", [{ name: "ops", token: TOKEN, permissions }, { name: "ops", token: `${TOKEN}-2`, permissions }], 'tokens.json: tokens[1] is named "ops" like tokens[0]: names must be unique'],
    ["one token twice", [{ name: "a", token: TOKEN, permissions }, { name: "b", sha256: createHash("sha256").update(TOKEN).digest("hex"), permissions }], "tokens.json: tokens[1]: the same token appears twice"],
  ];
  for (const [label, entries, expected] of refused) {
    it(`refuses ${label}, naming the entry and the problem`, () => {
      const message = refusal(entries);
      if (typeof expected === "string") expect(message).toContain(expected);
      else expect(message).toMatch(expected);
    });
  }

  it("names the entry at fault in a long file", () => {
    const entries = Array.from({ length: 50 }, (_, index) => ({ name: `worker-${index}`, token: `${TOKEN}-${index}`, permissions }));
    entries[37] = { ...entries[37]!, permissions: [{ prefix: "", allow: ["lock", "locks"] }] };
    expect(refusal(entries)).toBe('tokens.json: tokens[37] (worker-37).permissions[0].allow[1] names an unknown right "locks"; rights are lock, steal, election, read, write, counter, watch, admin');
  });
});

describe("StaticTokens.readFile", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function file(content: string): string {
    dir ??= mkdtempSync(join(tmpdir(), "leasehold-tokens-"));
    const path = join(dir, "tokens.json");
    writeFileSync(path, content);
    return path;
  }

  it("reads { tokens: [...] }, and refuses a file that is not JSON or has no token list", () => {
    const good = file(JSON.stringify({ tokens: [{ name: "a", token: TOKEN, permissions }] }));
    expect(new StaticTokens(StaticTokens.readFile(good), good).size).toBe(1);
    const notJson = file("{ tokens: ");
    expect(() => StaticTokens.readFile(notJson)).toThrow(`cannot read the auth file ${notJson}`);
    for (const content of ["[]", "{}", '{ "tokens": {} }', "null"]) {
      const path = file(content);
      expect(() => StaticTokens.readFile(path), content).toThrow(`the auth file ${path} must hold { "tokens": [`);
    }
  });
});
