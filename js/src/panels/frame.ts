// What every panel of a view draws from: one position of one controller's
// store, read once per draw by View.render.

import type { Controller } from "../controller";
import type { StepData } from "../protocol";

export interface Frame {
  readonly ctl: Controller;
  /** The position k, 0 … T; position k shows step k-1. */
  readonly k: number;
  readonly T: number;
  /** The hidden size H. */
  readonly H: number;
  /** Step k-1 (what position k shows), if it is here. */
  readonly step: StepData | undefined;
  /** Step k-2, whose h is h_{k-1}, if it is here. */
  readonly prev: StepData | undefined;
  readonly tokens: string[];
  /** Whether the model attends over its past (not eq1). */
  readonly attends: boolean;
  readonly lstmn: boolean;
  /** Colours for a dark background. */
  readonly dark: boolean;
  /** The slots hidden from attention (the knockout the steps were computed with,
   * or the one just asked for): marked in the tokens and the α matrix. */
  readonly hidden: ReadonlySet<number>;
  /** Whether this view is in knockout mode: a click on a token hides its slot. */
  readonly knocking: boolean;
}
