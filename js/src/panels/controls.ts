// The title, the control bar (reset, back, play, forward, the scrubber, the
// readout, speed, shading, the what-if buttons) and the text box.

import type { Controller } from "../controller";
import { button, el, setDisplay, setText } from "../dom";
import { icon } from "../icons";
import type { Shading } from "../protocol";
import { textForm, type Chooser } from "../whatif";
import type { Frame } from "./frame";

export const SPEEDS = [0.5, 1, 2, 4, 8, 16, 32];

/** What the Knockout button does, on hover. */
export const KNOCKOUT_HELP =
  "knockout: while pressed, a click on a token hides its state h_i from attention (α = 0 there), or shows it again; " +
  "key K does the same on the focused token, or on the red one";

export class Controls {
  readonly title = el("div", "aw-title");
  readonly bar = el("div", "aw-controls");
  /** The text box: a sentence of the user's own (a text model's widget). */
  readonly read: HTMLFormElement;
  private readonly reset: HTMLButtonElement;
  private readonly back: HTMLButtonElement;
  private readonly play: HTMLButtonElement;
  private readonly fwd: HTMLButtonElement;
  private readonly scrub: HTMLInputElement;
  private readonly readout: HTMLElement;
  private readonly speed: HTMLSelectElement;
  private readonly shading: HTMLSelectElement;
  private readonly edit: HTMLButtonElement;
  private readonly undo: HTMLButtonElement;
  /** Knockout mode on or off (aria-pressed); shown where the kernel can hide slots. */
  private readonly knockout: HTMLButtonElement;

  /** `now` wraps an action so the view draws at once after it (View's constructor says why);
   * `toggleKnocking` turns the view's knockout mode on or off. */
  constructor(ctl: Controller, now: (f: () => void) => () => void, chooser: Chooser, toggleKnocking: () => void = () => {}) {
    this.reset = button("Reset", "reset", now(() => ctl.reset()));
    this.back = button("Step back", "back", now(() => ctl.back()));
    this.play = button("Play", "play", now(() => ctl.togglePlay()));
    this.fwd = button("Step forward", "forward", now(() => ctl.step()));
    const scrub = (this.scrub = el("input", "aw-scrubber"));
    scrub.type = "range";
    scrub.min = "0";
    scrub.step = "1";
    scrub.setAttribute("aria-label", "Position");
    // drawn at once: a drag past an export's last saved step snaps back to it
    scrub.addEventListener("input", now(() => ctl.goto(Number(scrub.value))));
    this.readout = el("span", "aw-readout");
    this.readout.setAttribute("aria-live", "polite");
    const speed = (this.speed = el("select", "aw-speed"));
    speed.setAttribute("aria-label", "Speed (steps per second)");
    speed.title = "steps per second";
    for (const s of SPEEDS) {
      const o = el("option", undefined, `${s}/s`);
      o.value = String(s);
      speed.appendChild(o);
    }
    speed.addEventListener("change", () => ctl.setSpeed(Number(speed.value)));
    const shading = (this.shading = el("select", "aw-shading"));
    shading.setAttribute("aria-label", "Shade tokens by");
    shading.title = "shade the tokens by the weights α, or by how much h_k depends on each input";
    for (const [value, label] of [["alpha", "shade: α"], ["gradient", "shade: ‖∂h/∂x‖"]]) {
      const o = el("option", undefined, label);
      o.value = value;
      shading.appendChild(o);
    }
    shading.addEventListener("change", now(() => ctl.setShading(shading.value as Shading)));
    // What-if: replace the red token (or any, by double-click) and undo.
    this.edit = button("Replace a token", "edit", () => {
      chooser.open(Math.max(1, ctl.k));
    });
    this.edit.title = "replace x_k, the red token, by another word (or double-click any token; key E)";
    this.undo = button("Undo edit", "undo", () => ctl.undo());
    // Knockout: a toggle, named by its text; pressed, a click on a token hides that
    // state from attention (K on a focused token does so in either mode).
    const knockout = (this.knockout = el("button", "aw-button aw-knockout", "Knockout"));
    knockout.type = "button";
    knockout.setAttribute("aria-pressed", "false");
    knockout.title = KNOCKOUT_HELP;
    knockout.addEventListener("click", toggleKnocking);
    this.bar.append(this.reset, this.back, this.play, this.fwd, scrub, this.readout, speed, shading, this.edit, this.undo, knockout);
    this.read = textForm(ctl).form;
  }

  render({ ctl, k, T, knocking }: Frame, canEdit: boolean): void {
    const model = ctl.model;
    const playing = !!model.get("playing");
    // a comparison's other panels show no controls of their own
    const title = String(model.get("title") ?? "");
    setText(this.title, title);
    setDisplay(this.title, title !== "");
    setDisplay(this.bar, model.get("show_controls") !== false);
    this.back.disabled = k <= 0;
    this.reset.disabled = k <= 0 && !playing;
    this.fwd.disabled = k >= ctl.last; // T, or an export's last saved step
    const playLabel = playing ? "Pause" : "Play";
    if (this.play.getAttribute("aria-label") !== playLabel) {
      this.play.setAttribute("aria-label", playLabel);
      this.play.title = playLabel;
      this.play.replaceChildren(icon(playing ? "pause" : "play"));
    }
    const scrub = this.scrub;
    if (scrub.max !== String(T)) scrub.max = String(T);
    if (scrub.value !== String(k)) scrub.value = String(k);
    setText(this.readout, `read ${k} of ${T}`); // a position; the step shown is named “step k-1”
    const speed = this.speed;
    const sp = Number(model.get("speed"));
    if (!SPEEDS.includes(sp) && !Array.from(speed.options).some((o) => Number(o.value) === sp)) {
      const o = el("option", undefined, `${sp}/s`);
      o.value = String(sp);
      speed.appendChild(o);
    }
    if (speed.value !== String(sp)) speed.value = String(sp);
    // what-if and the text box; the gradient shading needs a kernel
    const edits: unknown[] = model.get("edits") ?? [];
    setDisplay(this.edit, canEdit);
    this.edit.disabled = T === 0;
    setDisplay(this.undo, canEdit && edits.length > 0);
    setDisplay(this.read, canEdit && model.get("accepts_text") === true);
    setDisplay(this.shading, !ctl.standalone);
    const mode = model.get("shading") === "gradient" ? "gradient" : "alpha";
    if (this.shading.value !== mode) this.shading.value = mode;
    setDisplay(this.knockout, ctl.canKnockout);
    const pressed = String(knocking);
    if (this.knockout.getAttribute("aria-pressed") !== pressed) this.knockout.setAttribute("aria-pressed", pressed);
  }
}
