/**
 * Preloaded into the user function's process by `cairn dev` (`--import`):
 * exits when the `cairn dev` parent goes away, even by SIGKILL, so an
 * orphaned function never keeps holding its port. The IPC channel closes
 * when the parent dies, whatever the cause; that is the signal used here.
 */
if (process.channel !== undefined) {
  // Unref'd so the channel alone never keeps the function alive.
  process.channel.unref();
  process.once("disconnect", () => process.exit(1));
}

export {};
