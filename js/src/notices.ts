// What the status line says where the saved steps end: in a saved notebook
// opened without a kernel, and on an exported page.

import { STEP_DATA_LIMIT } from "./protocol";

const SAVED_ONLY = "this step is not in the saved notebook: run its cells to compute more";

/** What a reader without a kernel is told when the position is past the saved steps. */
export function savedOnlyMessage(saved: number, computed: number): string {
  if (computed <= saved) return SAVED_ONLY;
  return (
    `the saved notebook holds positions 0 … ${saved} of the ${computed} steps computed ` +
    `(a saved widget keeps at most ${STEP_DATA_LIMIT / 1e6} MB of steps): run its cells to see more`
  );
}

/** What an exported page says when it holds fewer than T steps ("" when it holds all). */
export function exportedMessage(saved: number, computed: number, T: number): string {
  if (saved >= T) return "";
  const held = `this page holds positions 0 … ${saved} of ${T}`;
  if (computed > saved) return `${held}: an export keeps at most ${STEP_DATA_LIMIT / 1e6} MB of steps`;
  if (saved === 0) return `${held}: no step was computed when it was exported`;
  return `${held}: only ${saved} steps were computed when it was exported`;
}
