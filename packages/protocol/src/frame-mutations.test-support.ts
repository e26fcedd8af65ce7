import fc from "fast-check";

/** A frame's bytes broken: cut short, a byte changed, bytes added at the end or in the middle. */
export const mutation: fc.Arbitrary<(frame: Uint8Array) => Uint8Array> = fc.oneof(
  fc.nat().map((at) => (frame: Uint8Array) => frame.subarray(0, at % frame.length)),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => (frame: Uint8Array) => {
    const copy = frame.slice();
    copy[at % copy.length] = byte;
    return copy;
  }),
  fc.uint8Array({ minLength: 1, maxLength: 4 }).map((tail) => (frame: Uint8Array) => concat(frame, tail)),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 3 })).map(([at, inserted]) => (frame: Uint8Array) => {
    const cut = at % frame.length;
    return concat(frame.subarray(0, cut), inserted, frame.subarray(cut));
  }),
);

/** `arbitrary`'s value one time in `1 + odds`, else null. */
export function rarely<T>(arbitrary: fc.Arbitrary<T>, odds: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: odds, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
