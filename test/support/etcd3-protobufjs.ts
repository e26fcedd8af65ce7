import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The parts of protobufjs the etcd codec's tests use (it ships its own types, but is not a dependency of ours). */
interface ProtobufType {
  fromObject(value: object): object;
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: object): unknown;
}
interface ProtobufRoot {
  loadSync(file: string, options: { keepCase: boolean }): ProtobufRoot;
  resolveAll(): ProtobufRoot;
  lookupType(name: string): ProtobufType;
  toJSON(): object;
}
export interface Protobufjs {
  Root: { new (): ProtobufRoot; fromJSON(json: object): ProtobufRoot };
}

/**
 * protobufjs as etcd3 has it: the copy its @grpc/proto-loader requires, which serialized every
 * request etcd3 sent. `light` leaves out the .proto parser (enough to load a JSON descriptor).
 */
export function etcd3Protobufjs(variant: "light" | "full" = "light"): Protobufjs {
  const protoLoader = createRequire(etcd3Main()).resolve("@grpc/proto-loader");
  return createRequire(protoLoader)(variant === "light" ? "protobufjs/light" : "protobufjs") as Protobufjs;
}

/** etcd3's rpc.proto (and the files it imports), parsed as its proto-loader parses it (field names kept). */
export function parseEtcd3RpcProto(): ProtobufRoot {
  const { Root } = etcd3Protobufjs("full");
  return new Root().loadSync(join(dirname(etcd3Main()), "..", "proto", "rpc.proto"), { keepCase: true }).resolveAll();
}

/** etcd3 is the server package's dependency: resolved from there. */
function etcd3Main(): string {
  return createRequire(new URL("../../packages/server/package.json", import.meta.url)).resolve("etcd3");
}
