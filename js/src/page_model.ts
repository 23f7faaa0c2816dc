// The widget model of an exported page (standalone.ts): what Controller and
// View use of anywidget's model, with no kernel behind it.  The state comes
// from the page once; afterwards only the front end's own writes (t, playing,
// speed, shading) change it.  A change fires `change:<name>` synchronously, as
// Backbone's `set` does in a notebook, because the controller's play timer and
// the views rely on hearing a write before the next line runs.

import type { AnyModel } from "@anywidget/types";
import type { Traits } from "./protocol";

type Handler = (...args: any[]) => void;

/** Traits by name, as the export wrote them (the snapshot already decoded to bytes). */
export type PageState = Partial<Traits> & Record<string, unknown>;

/** An in-page stand-in for anywidget's model.  `send` goes nowhere (there is no kernel);
 * `sent` counts the attempts, so a test can tell that nothing tried to talk to one. */
export class PageModel implements AnyModel<Traits> {
  private readonly state: Record<string, unknown>;
  private readonly handlers = new Map<string, Set<Handler>>();
  /** The one manager of every model of this page (the controllers need only its identity). */
  readonly widget_manager: AnyModel<Traits>["widget_manager"];
  sent = 0;

  constructor(state: PageState, manager?: AnyModel<Traits>["widget_manager"]) {
    this.state = { ...state };
    this.widget_manager = manager ?? PAGE_MANAGER;
  }

  get<K extends keyof Traits>(key: K): Traits[K] {
    return this.state[key as string] as Traits[K];
  }

  set<K extends keyof Traits>(key: K, value: Traits[K]): void {
    const name = key as string;
    if (Object.is(this.state[name], value)) return;
    this.state[name] = value;
    this.fire(`change:${name}`, value);
    this.fire("change");
  }

  on(eventName: string, callback: Handler): void {
    let set = this.handlers.get(eventName);
    if (!set) this.handlers.set(eventName, (set = new Set()));
    set.add(callback);
  }

  /** As Backbone: no name drops every handler, no callback every handler of the name. */
  off(eventName?: string | null, callback?: Handler | null): void {
    if (!eventName) {
      if (callback) for (const set of this.handlers.values()) set.delete(callback);
      else this.handlers.clear();
      return;
    }
    if (callback) this.handlers.get(eventName)?.delete(callback);
    else this.handlers.delete(eventName);
  }

  save_changes(): void {}

  send(_content: unknown): void {
    this.sent++;
  }

  private fire(event: string, ...args: unknown[]): void {
    const set = this.handlers.get(event);
    if (!set) return;
    // a handler may add or drop handlers (a view disposed by another's change)
    for (const fn of [...set]) fn(...args);
  }
}

const PAGE_MANAGER: AnyModel<Traits>["widget_manager"] = {
  get_model: () => Promise.reject(new Error("an exported page has no widget manager")),
};

/** Keep the models' positions `t` equal, as a comparison's jslink does in a notebook:
 * a write to one sets the others (each set is a no-op once the value matches, so the
 * echo stops).  Returns a function that unlinks them. */
export function linkPositions(models: PageModel[]): () => void {
  const unlinks = models.map((source) => {
    const follow = () => {
      const t = source.get("t");
      for (const other of models) if (other !== source) other.set("t", t);
    };
    source.on("change:t", follow);
    return () => source.off("change:t", follow);
  });
  return () => unlinks.forEach((f) => f());
}
