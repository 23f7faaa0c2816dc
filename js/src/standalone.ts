// Entry of an exported page (attn_widget/export.py): the widget with no kernel
// and no Jupyter.  The page holds its state as JSON data blocks; this script
// builds one PageModel per panel and drives it with the very Controller and
// View that a notebook uses, so the page steps, plays and scrubs as the live
// widget does.  The controller runs in standalone mode: it sends nothing and
// keeps the position within the steps the page holds.
//
// The state is read with JSON.parse from a data block and token text reaches
// the DOM only through the views' textContent: nothing here is parsed as HTML.

import { Controller } from "./controller";
import { linkPositions, PageModel, type PageState } from "./page_model";
import { View } from "./view";

/** The data block's class: `<script type="application/json" class="attn-widget-state">`. */
export const STATE_CLASS = "attn-widget-state";
/** What the export writes as `format`; anything else is refused. */
export const EXPORT_FORMAT = "attn_widget export 1";

/** One data block, as export.py writes it. */
export interface ExportState {
  format: string;
  /** One trait dict per panel: one for a widget, several for a comparison. */
  panels: Record<string, unknown>[];
  /** Traits that hold bytes, written as base64 (the snapshot). */
  binary: string[];
  /** How a comparison's panels are laid out. */
  direction?: "row" | "column";
}

export interface Mounted {
  host: HTMLElement;
  models: PageModel[];
  controllers: Controller[];
  views: View[];
}

function bytesOf(base64: string): DataView {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new DataView(bytes.buffer);
}

/** The parsed and checked content of one data block. */
export function readState(text: string): ExportState {
  const state = JSON.parse(text) as ExportState;
  if (!state || typeof state !== "object" || state.format !== EXPORT_FORMAT) {
    throw new TypeError(`not an attn_widget export (format ${JSON.stringify((state as { format?: unknown })?.format)})`);
  }
  if (!Array.isArray(state.panels) || state.panels.length === 0) throw new TypeError("an export needs at least one panel");
  if (!Array.isArray(state.binary)) throw new TypeError("binary must list the traits written as base64");
  return state;
}

/** The page model of one panel: its traits, with the binary ones decoded. */
export function panelModel(traits: Record<string, unknown>, binary: string[]): PageModel {
  const state: PageState = { ...traits };
  for (const name of binary) {
    const value = traits[name];
    if (typeof value === "string") state[name] = bytesOf(value);
  }
  return new PageModel(state);
}

/** Draw one data block's panels right after it; a comparison's positions move as one. */
export function mountState(script: Element): Mounted {
  const host = document.createElement("div");
  host.className = "attn-export-widget";
  script.after(host);
  try {
    const state = readState(script.textContent ?? "");
    const models = state.panels.map((traits) => panelModel(traits, state.binary));
    if (models.length > 1) {
      host.classList.add("attn-export-compare", state.direction === "column" ? "is-column" : "is-row");
      linkPositions(models);
    }
    const controllers = models.map((model) => new Controller(model, { standalone: true }));
    const views = controllers.map((ctl) => {
      const panel = document.createElement("div");
      panel.className = "attn-export-panel";
      host.appendChild(panel);
      return new View(ctl, panel);
    });
    return { host, models, controllers, views };
  } catch (error) {
    const note = document.createElement("p");
    note.className = "attn-export-error";
    note.textContent = `this page could not draw its widget: ${(error as Error).message}`;
    host.appendChild(note);
    throw error;
  }
}

/** Draw every data block of the page. */
export function mountAll(root: ParentNode = document): Mounted[] {
  const mounted: Mounted[] = [];
  for (const script of Array.from(root.querySelectorAll(`script.${STATE_CLASS}`))) {
    if ((script as HTMLScriptElement).type !== "application/json") continue;
    try {
      mounted.push(mountState(script));
    } catch (error) {
      console.error(error);
    }
  }
  return mounted;
}

// The page's script comes after its data blocks; waiting for the parser to finish
// also covers a page that puts the script first.
if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => mountAll(), { once: true });
  else mountAll();
}
