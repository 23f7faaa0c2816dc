// Play: the timer that moves the position one step per beat of 1000/speed ms.
//
// It moves on only once the step on screen has arrived, so the animation
// never runs ahead of the kernel, and only from a position a view has drawn.
// The beats keep time (they do not drift by the time each draw takes); a beat
// that had to wait for a step restarts the count from then, so Play never
// bursts to catch up.

import { MAX_SPEED, MIN_SPEED, type Model } from "./protocol";

/** How often a Play beat that waits for its step looks again. */
const PLAY_POLL_MS = 5;

/** Play's speed in steps per second, within the shared bounds (4 if unreadable). */
export function clampSpeed(speed: unknown): number {
  return Math.max(MIN_SPEED, Math.min(MAX_SPEED, Number(speed) || 4));
}

/** What Play needs of its controller. */
export interface PlayHost {
  readonly model: Model;
  /** The position shown, and the furthest one Play may reach. */
  position(): number;
  last(): number;
  /** Whether the step position k shows is here (always at k = 0). */
  ready(k: number): boolean;
  /** Whether any view is open: with none, no draw is waited for. */
  watched(): boolean;
  /** Play's move to position k (Controller.advance). */
  advance(k: number): void;
  /** Play reached the end: write playing = false. */
  stop(): void;
  /** Tell the views that something they draw changed. */
  emit(): void;
}

export class Player {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private due = 0; // when the next beat is due (Date.now() ms)
  private lastBeat = -Infinity; // when the last beat moved the position
  /** The last position a view drew; Play moves on only from a drawn one. */
  private drawnK = -1;

  constructor(private readonly host: PlayHost) {}

  /** A view drew position k. */
  drew(k: number): void {
    this.drawnK = k;
  }

  /** `playing` changed: start beating, or stop. */
  sync(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.host.model.get("playing")) {
      this.host.emit();
      return;
    }
    this.due = Date.now();
    this.lastBeat = -Infinity;
    this.timer = setTimeout(this.beat, 0);
    this.host.emit();
  }

  /** A new speed while playing: the next beat comes one new interval after
   * the last, never at once (a speed menu fires a change per arrow key). */
  retime(): void {
    const { host } = this;
    if (!host.model.get("playing") || !this.timer) {
      host.emit();
      return;
    }
    clearTimeout(this.timer);
    const interval = 1000 / clampSpeed(host.model.get("speed"));
    const now = Date.now();
    this.due = Math.max(now, this.lastBeat + interval);
    this.timer = setTimeout(this.beat, this.due - now);
    host.emit();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private readonly beat = (): void => {
    const { host } = this;
    this.timer = null;
    if (!host.model.get("playing")) return;
    const k = host.position();
    if (k >= host.last()) {
      host.stop();
      return;
    }
    if (!host.ready(k)) {
      this.timer = setTimeout(this.beat, PLAY_POLL_MS); // the step on screen is still coming
      return;
    }
    if (host.watched() && this.drawnK !== k) {
      // No view has drawn this position yet: at a speed near the frame rate two
      // beats could fall in one frame, and a position would never be seen.
      this.timer = setTimeout(this.beat, PLAY_POLL_MS);
      return;
    }
    const interval = 1000 / clampSpeed(host.model.get("speed"));
    const now = Date.now();
    this.lastBeat = now;
    // A beat up to one interval late (a busy frame) keeps the count, so the
    // rate holds; later than that (it waited for a step), a new count starts.
    if (now - this.due > interval) this.due = now;
    host.advance(k + 1);
    this.due += interval;
    // at least half a beat apart, so every position gets a frame of its own
    this.timer = setTimeout(this.beat, Math.max(interval / 2, this.due - Date.now()));
  };
}
