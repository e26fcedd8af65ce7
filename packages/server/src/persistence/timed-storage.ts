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

  load(): StoredState {
    return this.inner.load();
  }

  write(batch: Batch): void {
    const started = performance.now();
    try {
      this.inner.write(batch);
    } catch (error) {
      this.timed((performance.now() - started) / 1_000, false);
      throw error;
    }
    this.timed((performance.now() - started) / 1_000, true);
  }

  sizeBytes(): number | undefined {
    return this.inner.sizeBytes?.();
  }

  close(): void {
    this.inner.close();
  }
}
