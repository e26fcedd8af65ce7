/** A verdict: the client under test (or its driver) broke a rule of the spec. */
export class ScenarioFailure extends Error {
  override name = "ScenarioFailure";
}

/** Rejects with a `ScenarioFailure` saying `message` if `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ScenarioFailure(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
