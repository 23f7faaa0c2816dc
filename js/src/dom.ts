// Element helpers shared by the view's panels and the what-if controls, and
// the one frame scheduler.  Token text and every other user string reach the
// DOM only through textContent (docs/design.md §4): nothing here parses HTML.

import { icon, type IconName } from "./icons";

/** A new element with a class and text (as text, never markup). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// Writes that only happen when the value changes: writing the same text
// again still replaces the text node, and the browser lays the widget out anew.
export function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

export function setClass(e: HTMLElement, cls: string): void {
  if (e.className !== cls) e.className = cls;
}

export function setDisplay(e: HTMLElement, shown: boolean): void {
  const display = shown ? "" : "none";
  if (e.style.display !== display) e.style.display = display;
}

/** An icon button, named for screen readers (aria-label) and on hover (title). */
export function button(label: string, glyph: IconName, onClick: () => void): HTMLButtonElement {
  const b = el("button", "aw-button");
  b.append(icon(glyph));
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.title = label;
  b.addEventListener("click", onClick);
  return b;
}

/** Whether a ``requestFrame`` callback is running: in a browser, the frame's style,
 * layout and paint come right after it (not after jsdom's timer). */
let inFrame = false;

/** The next animation frame (a 16 ms timer where there are none, as in jsdom without them). */
export function requestFrame(fn: () => void): number {
  const framed = () => {
    inFrame = true;
    try {
      fn();
    } finally {
      inFrame = false;
    }
  };
  if (typeof requestAnimationFrame === "function") return requestAnimationFrame(framed);
  return setTimeout(framed, 16) as unknown as number;
}

/** Run ``fn`` once the next frame is painted: a task queued from the frame's
 * animation callback runs after its style, layout and paint, so that reading the
 * layout there costs no layout of its own.  Called from a ``requestFrame``
 * callback (a view's draw), that frame is the one: asking for another would
 * make the browser produce a frame with nothing new in it (traced in Play: a
 * second frame a step, 2.3 ms of layerize and commit each). */
export function afterPaint(fn: () => void): void {
  if (inFrame) setTimeout(fn, 0);
  else requestFrame(() => setTimeout(fn, 0));
}

export function cancelFrame(id: number): void {
  if (typeof cancelAnimationFrame === "function") cancelAnimationFrame(id);
  else clearTimeout(id);
}

/** A canvas's 2D context, or null where there is none: jsdom (the unit tests) has
 * no canvas and logs an error on every call. */
export function canvasContext(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  if (typeof navigator !== "undefined" && /jsdom/i.test(navigator.userAgent)) return null;
  try {
    return canvas.getContext("2d");
  } catch {
    return null; // jsdom without the canvas package
  }
}
