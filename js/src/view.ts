// A view: the controls, tokens, state strips, attention and equation of one
// displayed output, drawn from its controller's store at position
// k = model.get("t").  A view holds no state of the widget's own: every view of
// one widget shows the same position.  Each panel (panels/) builds its own
// elements and draws them from one Frame; the view lays the panels out, keeps
// the theme, and decides when to draw.

import type { Controller } from "./controller";
import { cancelFrame, el, requestFrame } from "./dom";
import { onDarkBackground } from "./format";
import { listenForKeys } from "./keys";
import { AttentionPanel } from "./panels/attention";
import { Controls } from "./panels/controls";
import { EquationPanel } from "./panels/equation_panel";
import type { Frame } from "./panels/frame";
import { PredictionPanel } from "./panels/prediction";
import { StatesPanel } from "./panels/states";
import { StatusLine } from "./panels/status";
import { TokenStrip } from "./panels/token_strip";
import { ValuesPanel } from "./panels/values";
import { watchTheme } from "./theme";
import { Chooser } from "./whatif";

/** The model's traits a view draws that the controller does not announce. */
const DRAWN_TRAITS = [
  "tokens", "T", "update_rule", "align_name", "z_layout", "status", "frontier", "prediction_labels", "title",
  "show_controls", "editable", "accepts_text", "unknown", "edits", "vocabulary", "knockout", "can_knockout", "zero_slot",
];

/** One view of the widget inside `root`. */
export class View {
  readonly root: HTMLElement;
  private readonly chooser: Chooser;
  private readonly controls: Controls;
  private readonly status = new StatusLine();
  private readonly tokens: TokenStrip;
  private readonly states = new StatesPanel();
  private readonly prediction = new PredictionPanel();
  private readonly attention: AttentionPanel;
  private readonly equation = new EquationPanel();
  private readonly values: ValuesPanel;
  private kindShown = "";
  private dark = false;
  private themeChecked = false;
  /** Knockout mode (the Knockout button): a click on a token hides its slot from
   * attention instead of moving there.  This view's own, as an open chooser is. */
  private knocking = false;
  private frame: number | null = null;
  private cleanups: (() => void)[] = [];

  /** Whether this view offers what-if edits and the text box: a widget whose
   * kernel has answered (not an export, nor a saved notebook opened without
   * running it), that allows edits and shows its controls. */
  get canEdit(): boolean {
    const { ctl } = this;
    const model = ctl.model;
    return (
      !ctl.standalone &&
      ctl.kernelReplied &&
      !ctl.kernelGone &&
      model.get("editable") !== false &&
      model.get("show_controls") !== false
    );
  }

  constructor(readonly ctl: Controller, host: HTMLElement) {
    const root = (this.root = el("div", "attn-widget"));
    root.tabIndex = 0;
    // A named region: it takes the focus (its keys step it), and a focusable
    // element needs a role that may be focused (a landmark or a widget, not group).
    root.setAttribute("role", "region");
    root.setAttribute("aria-label", "Self-attention RNN stepper");

    // Draw at once after the user's own action, so the next click between
    // two animation frames meets up-to-date buttons.
    const now = (f: () => void) => () => {
      f();
      this.render();
    };
    // What-if: replace the red token (or any, by double-click) and undo.
    const chooser = (this.chooser = new Chooser(ctl, () => this.root.focus()));
    this.controls = new Controls(ctl, now, chooser, now(() => (this.knocking = !this.knocking)));
    this.tokens = new TokenStrip(
      ctl,
      (i) => {
        if (this.canEdit && !this.knocking) chooser.open(i);
      },
      () => this.knocking && ctl.canKnockout,
    );
    this.attention = new AttentionPanel(ctl);
    const panels = el("div", "aw-panels");
    panels.append(this.states.el, this.prediction.el, this.attention.el);
    const { controls, status, tokens, equation } = this;
    this.values = new ValuesPanel(() => Array.from(root.querySelectorAll<HTMLElement>(".aw-strip")), () => this.render());
    root.append(controls.title, controls.bar, controls.read, status.el, tokens.el, chooser.el, tokens.caption, panels, equation.el, this.values.el);
    host.appendChild(root);

    this.cleanups.push(listenForKeys(root, ctl, chooser, () => this.canEdit, (act) => now(act)()));
    this.cleanups.push(tokens.watchSize());
    this.cleanups.push(ctl.onChange(() => this.schedule()));
    const model = ctl.model;
    const onModel = () => this.schedule();
    for (const name of DRAWN_TRAITS) {
      model.on(`change:${name}`, onModel);
      this.cleanups.push(() => model.off(`change:${name}`, onModel));
    }
    this.cleanups.push(
      watchTheme(() => {
        this.themeChecked = false;
        this.schedule();
      }),
    );
    this.render();
  }

  dispose(): void {
    this.cleanups.forEach((f) => f());
    if (this.frame !== null) cancelFrame(this.frame);
    this.root.remove();
  }

  schedule(): void {
    if (this.frame !== null) return;
    this.frame = requestFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  /** Draw the current position from the store, writing only what changed:
   * the tokens whose state moved, the strips of this step, and the matrix rows
   * that arrived since the last draw. */
  render(): void {
    if (this.frame !== null) {
      cancelFrame(this.frame); // drawn now: the queued frame would draw the same again
      this.frame = null;
    }
    const { ctl, root } = this;
    const model = ctl.model;
    const T = ctl.T;
    const k = Math.min(ctl.k, T);
    if (!this.themeChecked && root.isConnected) {
      this.themeChecked = true;
      this.dark = onDarkBackground(root);
      root.classList.toggle("is-dark", this.dark);
      this.states.setDark(this.dark);
      this.attention.setDark(this.dark);
    }
    const lstmn = model.get("update_rule") === "lstmn";
    if (this.knocking && !ctl.canKnockout) this.knocking = false; // the button is gone: so is its mode
    const frame: Frame = {
      ctl,
      k,
      T,
      H: model.get("hidden_size") ?? 0,
      step: ctl.current(k),
      prev: k > 1 ? ctl.store.get(k - 2) : undefined,
      tokens: model.get("tokens") ?? [],
      attends: model.get("update_rule") !== "eq1",
      lstmn,
      dark: this.dark,
      hidden: ctl.knockout,
      knocking: this.knocking,
    };

    const canEdit = this.canEdit;
    this.controls.render(frame, canEdit);
    // the inputs changed under an open chooser (an edit, a new sentence): it is stale
    if (this.chooser.isOpen && (!canEdit || this.chooser.version !== ctl.store.version)) this.chooser.close();
    this.status.render(frame);
    if (root.dataset.connection !== ctl.connection) root.dataset.connection = ctl.connection;
    root.classList.toggle("is-knocking", this.knocking);
    this.tokens.render(frame);
    if (root.dataset.t !== String(k)) root.dataset.t = String(k);
    ctl.drew(k);
    if (this.kindShown !== (lstmn ? "lstmn" : "rnn")) {
      this.kindShown = lstmn ? "lstmn" : "rnn";
      root.setAttribute("aria-label", lstmn ? "LSTMN stepper" : "Self-attention RNN stepper");
      root.dataset.model = this.kindShown;
    }
    this.states.render(frame);
    this.prediction.render(frame);
    this.attention.render(frame, this.tokens.els);
    this.equation.render(frame);
    this.values.render(frame); // after the strips: it lists what they now show
    this.tokens.follow(k); // once painted: it reads the layout every panel has now written
  }
}
