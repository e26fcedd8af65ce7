import { BAD_INPUT_MAX_FRAME_BYTES, describeBadInput } from "../scenarios/bad-input.js";
import { singleServerWith } from "../support/target.js";

describeBadInput(singleServerWith({ limits: { maxFrameBytes: BAD_INPUT_MAX_FRAME_BYTES } }));
