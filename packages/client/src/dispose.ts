/**
 * The key of `await using` disposal. Runtimes without `Symbol.asyncDispose` (Node before 18.18,
 * older browsers) get the registered symbol that esbuild's and core-js's lowering of `await using`
 * look for there, so handles work with those too; TypeScript's own lowering needs the real symbol
 * (or a polyfill that defines it).
 */
export const asyncDispose: typeof Symbol.asyncDispose = (Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")) as typeof Symbol.asyncDispose;
