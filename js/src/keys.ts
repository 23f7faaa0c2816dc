// The view's keys, while the focus is in it.  Jupyter's shortcuts listen on
// the document: JupyterLab in the bubble phase, Notebook 7 in the capture
// phase, where they would take ← and → before the widget sees them.  A
// capture listener on the window runs before either.  It takes only the keys
// it acts on (and, inside the scrubber or a menu, only stops Jupyter from
// taking them, so they keep their own meaning); keys with Ctrl, Alt or Meta
// go on to Jupyter (save, run the cell).  K on a focused token hides its slot
// from attention (a knockout), or shows it again; K elsewhere in the view, the
// red token's.  The same holds where the view lives in a shadow root (marimo's
// <marimo-anywidget>).

import type { Controller } from "./controller";
import type { Chooser } from "./whatif";

/** The node a key event went to: the first in its composed path, which is the
 * focused element even inside an open shadow root (where `event.target`, seen
 * from the window, is the shadow host). */
export function keyTarget(event: Event): Node | null {
  const path = typeof event.composedPath === "function" ? event.composedPath() : [];
  const first = path.length > 0 ? path[0] : event.target;
  return first instanceof Node ? first : null;
}

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
    // Where the key went: inside a shadow root (marimo draws a widget in one)
    // the window sees the shadow host as the event's target, so the element
    // with the focus is read from the event's path instead.
    const t = keyTarget(event);
    if (!t || !root.contains(t)) return;
    if (event.ctrlKey || event.altKey || event.metaKey) return;
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
    const ownKeys = t instanceof Element && t.closest("[data-own-keys]") !== null; // a region that scrolls
    if (ownKeys || t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLButtonElement) {
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
