import { removeAllTempDirs } from "../servers/tempdir.js";
import { stopAllChildren } from "./children.js";

/** Runs a measuring script's `main`, then stops every process and removes every temp dir it made, and exits 0, or 1 with the error. */
export function runScript(main: () => Promise<void>): void {
  const finish = async (code: number): Promise<never> => {
    await stopAllChildren();
    removeAllTempDirs();
    process.exit(code);
  };
  main().then(
    () => finish(0),
    (error: unknown) => {
      console.error(error);
      return finish(1);
    },
  );
}
