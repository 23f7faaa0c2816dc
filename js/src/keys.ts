// The view's keys, while the focus is in it.  Jupyter's shortcuts listen on
// the document: JupyterLab in the bubble phase, Notebook 7 in the capture
// phase, where they would take ← and → before the widget sees them.  A
// capture listener on the window runs before either.  It takes only the keys
// it acts on (and, inside the scrubber or a menu, only stops Jupyter from
// taking them, so they keep their own meaning); keys with Ctrl, Alt or Meta
// go on to Jupyter (save, run the cell).  K on a focused token hides its slot
// from attention (a knockout), or shows it again; K elsewhere in the view, the
// red token's.

import type { Controller } from "./controller";
import type { Chooser } from "./whatif";

/** Listen for the view's keys on the window; returns the function that stops listening.
 * `act` runs an action and draws at once; `canEdit` says whether E may open the chooser. */
export function listenForKeys(
  root: HTMLElement,
  ctl: Controller,
  chooser: Chooser,
  canEdit: () => boolean,
  act: (f: () => void) => void,
): () => void {
  const keys: Record<string, () => void> = {
    ArrowRight: () => ctl.step(),
    ArrowLeft: () => ctl.back(),
    " ": () => ctl.togglePlay(),
    Home: () => ctl.reset(),
    End: () => ctl.goto(ctl.T),
    e: () => {
      if (canEdit()) chooser.open(Math.max(1, ctl.k));
    },
  };
  const onKey = (event: KeyboardEvent) => {
    if (!(event.target instanceof Node) || !root.contains(event.target)) return;
    if (event.ctrlKey || event.altKey || event.metaKey) return;
    const t = event.target;
    if (chooser.isOpen && chooser.el.contains(t)) {
      // The chooser's own keys (its listeners would not hear them: this
      // listener stops them on the window, before they reach the target).
      event.stopPropagation();
      chooser.onKey(event);
      return;
    }
    if (t instanceof HTMLInputElement && (t.type === "text" || t.type === "search")) {
      event.stopPropagation(); // typing is the text box's, never a Jupyter shortcut
      return;
    }
    if (event.key === "Escape" && chooser.isOpen) {
      event.stopPropagation();
      chooser.close();
      return;
    }
    if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLButtonElement) {
      // A control keeps its own keys (a button presses on Space, the scrubber
      // moves on the arrows, a menu opens): Jupyter only is kept from them.
      if (event.key in keys || event.key === "Enter") event.stopPropagation();
      return;
    }
    if (event.key === "k" || event.key === "K") {
      // K on the focused token hides its slot from attention, or shows it again;
      // with no token focused, the red token's (slot k, the state h_k made from it)
      const token = t instanceof HTMLElement && t.classList.contains("aw-token") ? t : null;
      const slot = token ? Number(token.dataset.index) : ctl.k;
      if (!ctl.canKnockout || (!token && slot < 1)) return;
      event.preventDefault();
      event.stopPropagation();
      act(() => ctl.toggleKnockout(slot));
      return;
    }
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    event.stopPropagation();
    act(action);
  };
  window.addEventListener("keydown", onKey, true);
  return () => window.removeEventListener("keydown", onKey, true);
}
