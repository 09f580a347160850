// Turns a push stream (an Observable, a wonka source…) into values awaited
// one at a time, each with a time limit.
import { timeout } from './common.mjs';

export function pushQueue() {
  const values = [];
  const waiters = [];
  let failure;
  let ended = false;
  const settle = () => {
    while (waiters.length && (values.length || failure || ended)) {
      const { resolve, reject } = waiters.shift();
      if (values.length) resolve(values.shift());
      else if (failure) reject(failure);
      else reject(new Error('the stream ended'));
    }
  };
  return {
    push(value) {
      values.push(value);
      settle();
    },
    fail(error) {
      failure = error instanceof Error ? error : new Error(JSON.stringify(error));
      settle();
    },
    end() {
      ended = true;
      settle();
    },
    next(what, ms = 10_000) {
      return timeout(new Promise((resolve, reject) => {
        waiters.push({ resolve, reject });
        settle();
      }), ms, what);
    },
    /** Skips values until one matches `predicate` (each within `ms`). */
    async until(predicate, what, ms = 10_000) {
      for (;;) {
        const value = await this.next(what, ms);
        if (predicate(value)) return value;
      }
    },
    get pending() {
      return values.length;
    },
  };
}
