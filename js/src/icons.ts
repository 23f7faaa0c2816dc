// The control icons as inline SVG, so they render the same with any fonts
// (a glyph such as ⏸ is an empty box where the fonts lack it).  Shapes only:
// the buttons carry their names in aria-label and title.

const SVG_NS = "http://www.w3.org/2000/svg";

export type IconName = "reset" | "back" | "play" | "pause" | "forward" | "edit" | "undo" | "close";

// 16 × 16 paths: a bar is a rectangle, an arrow a triangle.
const PATHS: Record<IconName, string> = {
  reset: "M3 3h2v10H3z M13 3v10L6 8z",
  back: "M12 3v10L4 8z",
  play: "M5 3v10l8-5z",
  pause: "M4 3h3v10H4z M9 3h3v10H9z",
  forward: "M3 3v10l8-5z M11 3h2v10h-2z",
  // a pencil: the shaft at 45°, and its point
  edit: "M10.5 2.5l3 3L6 13H3v-3z M2 14h3l-3-3z",
  // a hooked arrow back to the left
  undo: "M2 6l4-4v2.5h4a4 4 0 0 1 0 8H6v-2h4a2 2 0 0 0 0-4H6V9z",
  // a cross
  close: "M3.5 2.1L8 6.6l4.5-4.5 1.4 1.4L9.4 8l4.5 4.5-1.4 1.4L8 9.4l-4.5 4.5-1.4-1.4L6.6 8 2.1 3.5z",
};

/** An inline SVG icon drawn in the text colour. */
export function icon(name: IconName): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("aw-icon");
  svg.dataset.icon = name;
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", PATHS[name]);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}
