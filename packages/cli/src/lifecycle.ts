/** Graceful shutdown on SIGINT/SIGTERM: the first signal stops cleanly, a second exits at once. */

/**
 * Runs `stop` on the first SIGINT or SIGTERM, then exits 0 (1 if stop
 * failed). A second signal exits immediately: an operator pressing Ctrl-C
 * twice wants out, even if a drain hangs.
 */
export function stopOnSignals(stop: () => Promise<void>, print: (line: string) => void): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      print(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    print(`${signal}: stopping (press Ctrl-C again to exit at once)`);
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        print(`stop failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/**
 * Keeps the node serving when a promise rejects with nobody to handle it:
 * Node's default would end the process, and with it every other client's
 * requests, for one request's bug. The runtime logs and counts each one.
 */
export function survivePromiseBugs(runtime: { unhandledRejection(reason: unknown): void }): void {
  process.on("unhandledRejection", (reason) => runtime.unhandledRejection(reason));
}

/** Writes one human line to stderr (stdout stays for results). */
export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}
