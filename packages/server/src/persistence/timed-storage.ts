import type { Batch, Storage, StoredState } from "./storage.js";

/**
 * A storage that reports how long each write took and whether it succeeded (for the commit duration
 * metric and the slow-commit log), around any other storage; everything else is passed through.
 */
export class TimedStorage implements Storage {
  constructor(
    readonly inner: Storage,
    readonly timed: (seconds: number, ok: boolean) => void,
  ) {}

  get durable(): boolean {
    return this.inner.durable;
  }

  get writesInFlight(): number | undefined {
    return this.inner.writesInFlight;
  }

  get gatherAnsweredClients(): boolean | undefined {
    return this.inner.gatherAnsweredClients;
  }

  load(): StoredState | Promise<StoredState> {
    return this.inner.load();
  }

  write(batch: Batch): void | Promise<void> {
    const started = performance.now();
    const done = (ok: boolean) => this.timed((performance.now() - started) / 1_000, ok);
    let written: void | Promise<void>;
    try {
      written = this.inner.write(batch);
    } catch (error) {
      done(false);
      throw error;
    }
    // A networked store (etcd) answers later: time it to its answer, without an extra promise for SQLite.
    if (!(written instanceof Promise)) return done(true);
    return written.then(
      () => done(true),
      (error: unknown) => {
        done(false);
        throw error;
      },
    );
  }

  sizeBytes(): number | undefined {
    return this.inner.sizeBytes?.();
  }

  close(): void | Promise<void> {
    return this.inner.close();
  }
}
