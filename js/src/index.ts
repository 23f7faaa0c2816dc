// anywidget entry: one Controller per model (store, kernel conversation, play
// timer), however many Views show it.
//
// anywidget 0.11 hands `initialize` and every `render` a fresh wrapper object
// around the same model, so the wrapper cannot identify the model: keyed on
// it, each view got a controller and a play timer of its own, and Play moved
// the position once per view per tick.  The kernel gives every widget a
// unique `_widget_id` instead; the widget manager scopes it, since two
// notebooks open at once have managers of their own and may load the same
// saved id.
import "./style.css";
import { Controller } from "./controller";
import type { Model } from "./protocol";
import { View } from "./view";

type Scope = Map<string, Controller>;
const scopes = new WeakMap<object, Scope>();
const byWrapper = new WeakMap<object, Controller>(); // widgets saved before _widget_id
const NO_MANAGER = {};

function scopeOf(model: Model): Scope {
  const manager = (model as { widget_manager?: object }).widget_manager ?? NO_MANAGER;
  let scope = scopes.get(manager);
  if (!scope) scopes.set(manager, (scope = new Map()));
  return scope;
}

/** The model's one controller, made on first use. */
export function controllerFor(model: Model): Controller {
  const id = model.get("_widget_id");
  if (typeof id !== "string" || id === "") {
    let ctl = byWrapper.get(model);
    if (!ctl) byWrapper.set(model, (ctl = new Controller(model)));
    return ctl;
  }
  const scope = scopeOf(model);
  let ctl = scope.get(id);
  if (!ctl) scope.set(id, (ctl = new Controller(model)));
  return ctl;
}

function forget(model: Model, ctl: Controller): void {
  const id = model.get("_widget_id");
  const scope = scopeOf(model);
  if (typeof id === "string" && scope.get(id) === ctl) scope.delete(id);
  byWrapper.delete(model);
}

const entry = {
  initialize({ model }: { model: Model }) {
    const ctl = controllerFor(model);
    return () => {
      ctl.dispose();
      forget(model, ctl);
    };
  },
  render({ model, el }: { model: Model; el: HTMLElement }) {
    const ctl = controllerFor(model);
    if (ctl.store.size === 0) ctl.requestSync(); // a new view of an empty store
    const view = new View(ctl, el);
    return () => view.dispose();
  },
};

// anywidget imports a widget's inline ESM afresh for every model: a new module
// instance each time, which the page never frees.  Measured in Chromium, a widget
// made and closed 40 times kept 196 KB of the page's heap each that way, 14 KB
// with one module instance (tests/e2e/test_rerun_memory_e2e.py measures re-run
// cells in Lab).  So the first instance of this build in the page is kept on a
// page global and later ones hand it out: their own functions never run, and are
// never compiled.  Keyed by a hash of the sources (build.mjs), so a newer build
// loaded into the same page is not shadowed by an older one.
declare const __AW_BUILD__: string | undefined;
const KEY = `__attn_widget_entry_${typeof __AW_BUILD__ === "string" ? __AW_BUILD__ : "dev"}`;
const page = globalThis as unknown as Record<string, typeof entry | undefined>;
export default (page[KEY] ??= entry);
