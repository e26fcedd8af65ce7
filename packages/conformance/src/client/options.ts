import type { Scenario } from "./scenario.js";

export interface ClientOptions {
  host: string;
  port: number;
  driverCmd: string;
  only: string[];
  skip: string[];
  json: boolean;
  list: boolean;
}

export const USAGE = `usage: leasehold-conformance client --driver-cmd "<command>" [--listen 127.0.0.1:PORT] [--only NAMES] [--skip NAMES] [--json] [--list]

  --driver-cmd  the command (run by the shell) that starts your driver: it reads commands as JSON
                lines on stdin and writes what the application saw as JSON lines on stdout
                (CONFORMANCE.md, "Client mode")
  --listen      where the scripted server listens (default 127.0.0.1:0, any free port); the
                driver is told each scenario's URL, ws://HOST:PORT/<scenario>
  --only/--skip scenario names, comma-separated or repeated; "push" names every push.* scenario
  --json        the results as one JSON object on stdout
  --list        list the scenarios and the PROTOCOL.md section each checks
`;

/** Reads the arguments after `client`; an `error` says what is wrong with them. */
export function parseClientArgs(argv: string[]): ClientOptions | { error: string } {
  const options: ClientOptions = { host: "127.0.0.1", port: 0, driverCmd: "", only: [], skip: [], json: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case "--json":
        options.json = true;
        break;
      case "--list":
        options.list = true;
        break;
      case "--driver-cmd": {
        const command = value();
        if (command === undefined || command.trim() === "") return { error: "--driver-cmd needs a command" };
        options.driverCmd = command;
        break;
      }
      case "--listen": {
        const match = /^(.+):(\d+)$/.exec(value() ?? "");
        const port = Number(match?.[2]);
        if (match === null || match[1] === undefined || port > 65_535) return { error: "--listen needs HOST:PORT, e.g. 127.0.0.1:7171 (port 0: any free port)" };
        options.host = match[1].replace(/^\[(.*)\]$/, "$1");
        options.port = port;
        break;
      }
      case "--only":
      case "--skip": {
        const names = value();
        if (names === undefined) return { error: `${flag} needs scenario names` };
        (flag === "--only" ? options.only : options.skip).push(...names.split(",").map((name) => name.trim()).filter((name) => name !== ""));
        break;
      }
      default:
        return { error: `unknown argument ${JSON.stringify(flag)}` };
    }
  }
  if (options.driverCmd === "" && !options.list) return { error: "--driver-cmd is required: the command that starts your driver" };
  return options;
}

/** The scenarios `--only` and `--skip` leave; a name selects itself and every `<name>.*` scenario. */
export function selectScenarios(all: readonly Scenario[], options: Pick<ClientOptions, "only" | "skip">): Scenario[] {
  const named = (scenario: Scenario, names: string[]): boolean => names.some((name) => scenario.name === name || scenario.name.startsWith(`${name}.`));
  return all.filter((scenario) => (options.only.length === 0 || named(scenario, options.only)) && !named(scenario, options.skip));
}
