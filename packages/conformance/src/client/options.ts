import { parseArgs } from "node:util";

export interface ClientOptions {
  host: string;
  port: number;
  driverCmd: string;
  only: string[];
  skip: string[];
  json: boolean;
  /** Where to write JUnit XML too. */
  junit?: string;
}

export const USAGE = `usage: leasehold-conformance client --driver-cmd "<command>" [--listen 127.0.0.1:PORT] [--only a,b] [--skip c] [--json] [--junit FILE] [--list]

  --driver-cmd     the shell command that starts your driver, once per scenario: it reads commands as
                   JSON lines on stdin and writes what the application saw as JSON lines on stdout
                   (CONFORMANCE.md, "Client mode")
  --listen         where the scripted server listens (default 127.0.0.1:0, any free port); the
                   driver is told each scenario's URL, ws://HOST:PORT/<scenario>
  --only, --skip   scenario names or groups (heartbeat, deadline, resume, refused-4000, push), comma separated
  --json           print the results as JSON instead of the human summary
  --junit FILE     also write JUnit XML to FILE
  --list           list the scenarios and the PROTOCOL.md section each checks`;

/** Reads the arguments after `client`; `list`/`help` ask for text only; an `error` says what is wrong. */
export function parseClientArgs(argv: string[]): ClientOptions | { list: true } | { help: true } | { error: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "driver-cmd": { type: "string" },
        listen: { type: "string" },
        only: { type: "string" },
        skip: { type: "string" },
        json: { type: "boolean" },
        junit: { type: "string" },
        list: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
  if (values.help) return { help: true };
  if (values.list) return { list: true };
  const driverCmd = values["driver-cmd"]?.trim();
  if (!driverCmd) return { error: "--driver-cmd is required: the command that starts your driver" };
  const listen = /^\[?([^\]]+?)\]?:(\d+)$/.exec(values.listen ?? "127.0.0.1:0");
  const port = Number(listen?.[2]);
  if (listen?.[1] === undefined || port > 65_535) return { error: "--listen needs HOST:PORT, e.g. 127.0.0.1:7171 (port 0: any free port)" };
  return { host: listen[1], port, driverCmd, only: list(values.only), skip: list(values.skip), json: values.json === true, ...(values.junit !== undefined && { junit: values.junit }) };
}

/** The scenarios `--only` and `--skip` leave; a name selects itself and every `<name>.*` scenario. */
export function selectScenarios<T extends { name: string }>(all: readonly T[], options: Pick<ClientOptions, "only" | "skip">): T[] {
  const named = (scenario: T, names: string[]): boolean => names.some((name) => scenario.name === name || scenario.name.startsWith(`${name}.`));
  return all.filter((scenario) => (options.only.length === 0 || named(scenario, options.only)) && !named(scenario, options.skip));
}

function list(value: string | undefined): string[] {
  return (value ?? "").split(",").map((part) => part.trim()).filter((part) => part.length > 0);
}
