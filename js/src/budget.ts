// Browser memory: how much of a widget's steps the front end keeps, and when
// it asks the kernel again for steps it dropped (docs/design.md §2, "Browser
// memory").  An exported page, or a saved notebook with no kernel, cannot ask
// again: it keeps what it was given (at most STEP_DATA_LIMIT bytes).
//
// A step t holds 4·(t+1) bytes of α and 4·(|z| + 3H) bytes of vectors (the
// scores are not kept), so the whole sequence grows as T²: 82 MB at T = 4000,
// H = 256.  A view shows one step at a time; the α matrix keeps every row at
// pixel resolution by itself (matrix.ts, MatrixLevels).

import { STEP_DATA_LIMIT } from "./protocol";
import type { StepStore } from "./store";

/** The most bytes of step arrays one widget keeps while a kernel can send them
 * again: four kernel messages' worth (each at most STEP_DATA_LIMIT beyond what
 * the position needs): the window behind the position (two), the steps pushed
 * ahead of it (one), and one answer on its way. */
export const STORE_LIMIT = 4 * STEP_DATA_LIMIT;
/** A trim goes down to this, so that it makes room for a whole message, not one step. */
export const STORE_TRIM_TO = 3 * STEP_DATA_LIMIT;
/** The window behind the position that is kept filled, in bytes: two messages' worth.
 * Its farthest quarter is asked for again once the position has stepped back that far,
 * so three quarters of it outlast the round trip to the kernel while stepping back
 * several positions a frame (the kernel sends the nearest steps first). */
export const BEHIND_BYTES = 2 * STEP_DATA_LIMIT;
/** Steps past the current one that are asked for again when dropped. */
export const AHEAD_STEPS = 32;
/** An unanswered request for the same steps is sent again after this long. */
const ASK_AGAIN_MS = 3000;

/** The first step s of the window that ends at step `last` and holds about
 * `bytes` bytes, a step t costing `perStep(t)`. */
export function windowStart(last: number, perStep: (t: number) => number, bytes = BEHIND_BYTES): number {
  let s = last;
  for (let held = 0; s > 0; s--) {
    held += perStep(s - 1);
    if (held > bytes) break;
  }
  return Math.max(0, s);
}

/** Decides when to ask the kernel again for dropped steps near the position. */
export class Refill {
  private asked: { version: number; from: number; to: number; at: number } | null = null;

  /**
   * What to ask the kernel for (`{type: "sync", have, k}`: it answers with the
   * steps `have` … k-1, then what fits beyond within STEP_DATA_LIMIT) so that
   * position k shows at once and stepping back from it meets no dropped
   * step: null if nothing is missing.  It asks when a dropped step lies in
   * the nearer three quarters of the window behind the step shown (for the window up to
   * the last dropped step: the steps after it are here), or among the
   * AHEAD_STEPS after it, and not again while an earlier request that covers
   * it is on its way.
   */
  need(store: StepStore, k: number, T: number, now = Date.now()): { have: number; k: number } | null {
    if (k <= 0 || !store.anyDropped) return null;
    const shown = k - 1;
    const start = windowStart(shown, (t) => store.stepBytes(t));
    const near = start + Math.floor((shown - start) / 4);
    let missing = -1;
    let have = 0;
    for (let s = shown; s >= near; s--) {
      if (store.dropped(s)) {
        missing = s;
        have = start; // the whole window behind, in one message
        break;
      }
    }
    if (missing < 0) {
      for (let s = shown + 1; s < Math.min(T, shown + 1 + AHEAD_STEPS); s++) {
        if (store.dropped(s)) {
          missing = s;
          have = s;
          break;
        }
      }
    }
    if (missing < 0) return null;
    const last = this.asked;
    if (last && last.version === store.version && last.from <= missing && missing <= last.to && now - last.at < ASK_AGAIN_MS) {
      return null; // asked already: the answer is on its way
    }
    // behind: the steps have … missing; ahead: from the dropped one on, as far as fits
    const upTo = missing < shown ? missing + 1 : k;
    this.asked = { version: store.version, from: have, to: Math.max(upTo - 1, have), at: now };
    return { have, k: upTo };
  }
}
