/**
 * Catches promise rejections that no simulated code handled, so that a run can fail with its seed
 * instead of the whole Node process dying (or the rejection being swallowed). Node reports them
 * only when the event loop turns; the scheduler turns it every few hundred events, at points fixed
 * by the event count, so a given seed always reports the same rejection at the same point.
 *
 * Runs are normally sequential; when several share the process, each listener hears every
 * rejection, because a rejection does not say which run it came from.
 */

export type RejectionListener = (reason: unknown) => void;

export function watchUnhandledRejections(listener: RejectionListener): () => void {
  const handler = (reason: unknown): void => listener(reason);
  process.on('unhandledRejection', handler);
  return () => {
    process.off('unhandledRejection', handler);
  };
}
