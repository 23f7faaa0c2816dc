import { afterEach, describe, expect, it } from "vitest";
import type { Controller } from "../src/controller";
import { TokenStrip } from "../src/panels/token_strip";

const LINE = 20; // px: each token on its own line, laid out by hand (jsdom has no layout)
const VIEW = 60; // the strip's height: three lines
const MARGIN = Math.min(LINE, VIEW / 4); // followNow's room around the red token

/** A strip of n tokens, on the page, with the layout jsdom cannot compute stubbed in. */
function stripOf(n: number): TokenStrip {
  const strip = new TokenStrip({} as Controller, () => {});
  const box = strip.el;
  for (const [name, value] of [
    ["clientHeight", VIEW],
    ["scrollHeight", n * LINE],
  ] as const) {
    Object.defineProperty(box, name, { configurable: true, get: () => value });
  }
  strip.els = Array.from({ length: n }, (_, i) => {
    const token = document.createElement("span");
    Object.defineProperty(token, "offsetTop", { get: () => i * LINE });
    Object.defineProperty(token, "offsetHeight", { get: () => LINE });
    box.append(token);
    return token;
  });
  document.body.append(box);
  return strip;
}

/** Past the frame and the task after it (``afterPaint``; jsdom's frame is a 16 ms timer). */
const painted = () => new Promise((resolve) => setTimeout(resolve, 60));

afterEach(() => {
  document.body.innerHTML = "";
});

describe("TokenStrip.follow", () => {
  it("scrolls once the frame is painted, not within the move", async () => {
    const strip = stripOf(50);
    strip.follow(30);
    expect(strip.el.scrollTop).toBe(0); // no layout read inside the move
    await painted();
    // token 30 spans 600 … 620; the view ends a margin below it
    expect(strip.el.scrollTop).toBe(30 * LINE + LINE - VIEW + MARGIN);
    expect(strip.el.classList.contains("is-long")).toBe(true);
  });

  it("coalesces the moves of one frame into a follow of the last", async () => {
    const strip = stripOf(50);
    strip.follow(40);
    strip.follow(10);
    strip.follow(45);
    await painted();
    expect(strip.el.scrollTop).toBe(45 * LINE + LINE - VIEW + MARGIN);
    strip.follow(5); // back up: the token a margin below the view's top
    await painted();
    expect(strip.el.scrollTop).toBe(5 * LINE - MARGIN);
  });

  it("leaves a strip the reader scrolled alone until the position moves", async () => {
    const strip = stripOf(50);
    strip.follow(20);
    await painted();
    strip.el.scrollTop = 0; // the reader scrolls back to the start
    strip.follow(20);
    await painted();
    expect(strip.el.scrollTop).toBe(0);
    strip.follow(21);
    await painted();
    expect(strip.el.scrollTop).toBe(21 * LINE + LINE - VIEW + MARGIN);
  });

  it("does not scroll a strip that fits, and marks it short", async () => {
    const strip = stripOf(2); // 40 px of tokens in a 60 px view
    strip.follow(1);
    await painted();
    expect(strip.el.scrollTop).toBe(0);
    expect(strip.el.classList.contains("is-long")).toBe(false);
  });
});
