/**
 * A bench tool's arguments, `--name=value` each, split at the first "=" only, so that a value may hold
 * one (`--args-b="--flag=value"`); a bare `--name` maps to "". Anything else is refused, so that a typo
 * such as `-passes=3` is not silently ignored.
 */
export function toolArgs(argv: readonly string[] = process.argv.slice(2)): Map<string, string> {
  return new Map(
    argv.map((arg): [string, string] => {
      const match = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
      if (!match) throw new Error(`not a --name or --name=value argument: ${arg}`);
      return [match[1]!, match[2] ?? ""];
    }),
  );
}
