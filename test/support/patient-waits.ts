/**
 * Setup file of the tiers on real sockets and processes: `vi.waitFor` waits up to 10 s unless told
 * otherwise, instead of vitest's fixed 1 s. A wait returns as soon as its condition holds, so this
 * costs nothing when the machine is quiet; on a loaded one (2 cores, a load of 17) a default 1 s wait
 * for a queue of 5,000 waiters ran out, and 63 waits in test/ relied on that default.
 */
import { vi } from "vitest";

const PATIENT_TIMEOUT_MS = 10_000;

// In a tier whose files share their worker (isolate: false) this runs once per file: wrap only once.
const PATIENT = Symbol.for("leasehold.patientWaits");
if (!(PATIENT in vi.waitFor)) {
  const waitFor = vi.waitFor.bind(vi);
  vi.waitFor = Object.assign(
    ((callback, options = {}) => waitFor(callback, typeof options === "number" ? { timeout: options } : { timeout: PATIENT_TIMEOUT_MS, ...options })) as typeof vi.waitFor,
    { [PATIENT]: true },
  );
}
