import type * as z from "zod/mini";

/**
 * The first problem zod found in a configuration value (the token file, a JWT's permissions claim),
 * as one line that names the file, the place and what is wrong:
 * `tokens.json: tokens[2] (workers).limits.maxSessions must be a positive integer, got -1`.
 * The schemas' messages are written to follow the path; `labelOf` names an entry of the top-level
 * array after its index (a token's name), so that a long file's problem is found at a glance.
 */
export function configProblem(error: z.core.$ZodError, where: string, root: string, labelOf?: (index: number) => string): string {
  const issue = error.issues[0];
  if (issue === undefined) return `${where}: ${root} is not valid`;
  let path = root;
  issue.path.forEach((key, depth) => {
    path += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
    if (depth === 0 && typeof key === "number" && labelOf) path += labelOf(key);
  });
  // "...limits: unknown limit "maxSesions"" names the object; every other message reads on from its path.
  return `${where}: ${path}${issue.code === "unrecognized_keys" ? ": " : " "}${issue.message}`;
}
