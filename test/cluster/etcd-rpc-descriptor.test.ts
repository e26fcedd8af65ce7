import { describe, expect, it } from "vitest";
import { parseEtcd3RpcProto } from "../support/etcd3-protobufjs.js";

/**
 * The unit test of the etcd transaction codec (packages/server/src/cluster/etcd-txn-codec.test.ts)
 * compares it with protobufjs on etcd's messages loaded from a JSON descriptor, because parsing the
 * .proto text there cost the unit tier 0.3 to 0.5 s. This keeps the descriptor what etcd3's .proto
 * files say. After upgrading etcd3: `npx vitest run test/cluster/etcd-rpc-descriptor.test.ts -u`, and
 * read the diff.
 */
describe("the etcd message descriptor of the codec's unit test", () => {
  it("is what etcd3's rpc.proto parses to", async () => {
    const descriptor = `${JSON.stringify(parseEtcd3RpcProto().toJSON(), null, 1)}\n`;
    await expect(descriptor).toMatchFileSnapshot("../../packages/server/src/cluster/etcd-rpc.descriptor.json");
  });
});
