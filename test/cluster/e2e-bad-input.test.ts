import { BAD_INPUT_MAX_FRAME_BYTES, describeBadInput } from "../scenarios/bad-input.js";
import { sharedCluster } from "../support/target.js";

// Guarantee 4 of issue 12: the bad-input tests against 3 gateways on 3 etcd members, through a follower, which
// passes every frame as it is (the leader decodes and refuses it) and applies the same frame limit to its listener.
describeBadInput(sharedCluster({ args: ["--max-frame", String(BAD_INPUT_MAX_FRAME_BYTES)] }));
