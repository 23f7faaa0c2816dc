// The kernel gone (connection.ts, the controller's watchdog and heartbeat) and
// the version trust (the store takes a version only from the kernel's sequence).
import { afterEach, describe, expect, it, vi } from "vitest";
import { PING_MS, SILENT_MS } from "../src/connection";
import { Controller } from "../src/controller";
import { View } from "../src/view";
import { FakeModel, encode, rawStep, snapshot } from "./helpers";

function setup(extra: Record<string, any> = {}, withView = true) {
  const model = new FakeModel({
    t: 0, T: 4, tokens: ["a", "b", "c", "d"], update_rule: "eq4", align_name: "dot",
    z_layout: [["h", 3], ["x", 2], ["c", 3]], hidden_size: 3, input_size: 2, frontier: 0,
    version: 0, playing: false, speed: 10, status: "", editable: true, show_controls: true,
    vocabulary: ["a", "b"], can_knockout: true, knockout: [],
    _snapshot: new DataView(new ArrayBuffer(0)), ...extra,
  });
  const ctl = new Controller(model as any);
  let view: View | null = null;
  if (withView) {
    const host = document.createElement("div");
    document.body.appendChild(host);
    view = new View(ctl, host);
  }
  return { model, ctl, view, root: view?.root as HTMLElement };
}

function kernelSends(model: FakeModel, ts: number[], version = 0) {
  const { descs, buffer } = encode(ts.map((t) => rawStep(t)));
  model.receive({ type: "steps", version, frontier: Math.max(...ts) + 1, T: 4, reason: "step", steps: descs }, [buffer]);
}

const status = (root: HTMLElement) => root.querySelector(".aw-status")!.textContent!;
const byLabel = (root: HTMLElement, label: string) => root.querySelector(`button[aria-label="${label}"]`) as HTMLButtonElement;
const pings = (model: FakeModel) => model.sent.filter((m) => m.type === "ping").length;

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

describe("the kernel gone", () => {
  it("a restart (ipywidgets marks the comm dead) is said at once; the steps here still step and play", () => {
    vi.useFakeTimers();
    const { model, ctl, view, root } = setup();
    kernelSends(model, [0, 1, 2]); // 3 of T = 4 steps are here
    model.fire("comm_live_update"); // the manager's disconnect(): the kernel restarts
    view!.render();
    expect(ctl.kernelGone).toBe(true);
    expect(root.dataset.connection).toBe("gone");
    expect(status(root)).toBe(
      "the kernel is gone (restarted): positions 0 … 3 still step and play from the steps here; " +
        "edits, knockout, new text and new steps need a kernel: run the cell again",
    );
    const sent = model.sent.length;
    // Play runs through the steps here and stops where they end (position 3, not T = 4)
    byLabel(root, "Play").click();
    vi.advanceTimersByTime(2000);
    expect(model.get("t")).toBe(3);
    expect(model.get("playing")).toBe(false);
    ctl.step(); // past the steps here: nothing to show, nothing to ask
    expect(model.get("t")).toBe(3);
    ctl.back();
    expect(model.get("t")).toBe(2);
    // what waits for a kernel is neither offered nor sent
    ctl.edit(1, "b");
    ctl.setKnockout([1]);
    ctl.readText("a b");
    vi.advanceTimersByTime(3 * PING_MS);
    expect(model.sent.length).toBe(sent);
    expect(ctl.canKnockout).toBe(false);
    view!.render();
    expect(byLabel(root, "Knockout")).toBeNull();
    expect((root.querySelector(".aw-edit") as HTMLElement | null)?.style.display ?? "none").toBe("none");
    expect(root.dataset.connection).toBe("gone"); // silence after "gone" does not soften it to "busy or gone"
  });

  it("hears the kernel's status: dead or restarting is gone, busy is not; the signal is let go on dispose", () => {
    const slots = new Set<(s: unknown, status: string) => void>();
    const kernel = {
      status: "idle",
      statusChanged: { connect: (f: any) => slots.add(f), disconnect: (f: any) => slots.delete(f) },
    };
    const { model, ctl } = setup({}, false);
    (model as any).widget_manager = { kernel };
    const ctl2 = new Controller(model as any);
    model.receive({ type: "pong" }); // a kernel that has answered
    expect(slots.size).toBe(1);
    for (const f of slots) f(kernel, "busy");
    expect(ctl2.kernelGone).toBe(false);
    for (const f of [...slots]) f(kernel, "dead");
    expect(ctl2.kernelGone).toBe(true);
    expect(ctl2.goneNotice).toMatch(/^the kernel is gone \(dead\)/);
    ctl2.dispose();
    expect(slots.size).toBe(0);
    expect(ctl.kernelGone).toBe(false); // a manager without a kernel: nothing to hear
    ctl.dispose();
  });

  it("a message from the kernel takes 'gone' back", () => {
    const { model, ctl } = setup();
    kernelSends(model, [0]);
    model.fire("comm_live_update");
    expect(ctl.kernelGone).toBe(true);
    kernelSends(model, [0]);
    expect(ctl.kernelGone).toBe(false);
    expect(ctl.connection).toBe("ok");
  });
});

describe("the heartbeat", () => {
  it("an idle, visible widget pings after PING_MS; a pong keeps it ok, and it pings again only after another PING_MS", () => {
    vi.useFakeTimers();
    const { model, ctl } = setup();
    kernelSends(model, [0, 1]); // the kernel has answered
    vi.advanceTimersByTime(PING_MS - 600);
    expect(pings(model)).toBe(0);
    vi.advanceTimersByTime(1100);
    expect(pings(model)).toBe(1);
    model.receive({ type: "pong" });
    vi.advanceTimersByTime(PING_MS - 600);
    expect(pings(model)).toBe(1);
    vi.advanceTimersByTime(1100);
    expect(pings(model)).toBe(2);
    model.receive({ type: "pong" });
    expect(ctl.connection).toBe("ok");
  });

  it("silence after a ping says 'busy, or gone', never 'gone'; the kernel's next word makes it ok", () => {
    vi.useFakeTimers();
    const { model, ctl, view, root } = setup();
    kernelSends(model, [0, 1]);
    vi.advanceTimersByTime(PING_MS + 500); // the ping goes; a long cell keeps it unanswered
    expect(pings(model)).toBe(1);
    vi.advanceTimersByTime(SILENT_MS + 1000);
    view!.render();
    expect(ctl.connection).toBe("silent");
    expect(ctl.kernelGone).toBe(false);
    expect(status(root)).toMatch(/^no reply from the kernel for 15 s: a running cell keeps it busy, or it is gone/);
    vi.advanceTimersByTime(5 * PING_MS);
    expect(pings(model)).toBe(1); // one unanswered ping at a time
    model.receive({ type: "pong" }); // the cell ended
    view!.render();
    expect(ctl.connection).toBe("ok");
    expect(status(root)).toBe("");
  });

  it("a ping that cannot go (a shut-down kernel disposed the comm) says the kernel is gone", () => {
    vi.useFakeTimers();
    const { model, ctl } = setup();
    kernelSends(model, [0]);
    model.failSend = true;
    vi.advanceTimersByTime(PING_MS + 500);
    expect(ctl.kernelGone).toBe(true);
    expect(ctl.goneNotice).toMatch(/^the kernel is gone \(its comm is closed: Comm is closed\): positions 0 … 1 /);
  });

  it("no ping while playing, with no view, or before any kernel answered (a saved notebook)", () => {
    vi.useFakeTimers();
    const playing = setup({ speed: 0.25 });
    kernelSends(playing.model, [0, 1, 2, 3]);
    playing.ctl.togglePlay();
    vi.advanceTimersByTime(PING_MS + 1000);
    expect(pings(playing.model)).toBe(0);

    const unseen = setup({}, false);
    kernelSends(unseen.model, [0]);
    vi.advanceTimersByTime(3 * PING_MS);
    expect(pings(unseen.model)).toBe(0);

    const saved = setup({ _snapshot: snapshot(0, [rawStep(0)]) });
    vi.advanceTimersByTime(3 * PING_MS + SILENT_MS);
    expect(pings(saved.model)).toBe(0);
    saved.model.fire("comm_live_update"); // a restart while it is open: it had no kernel to lose
    expect(saved.ctl.kernelGone).toBe(false);
    saved.view!.render();
    expect(status(saved.root)).toBe(""); // no kernel ever answered: no claim about one
  });
});

describe("version trust", () => {
  it("a forged steps message of a future version drops no step; the kernel's next version still arrives", () => {
    const { model, ctl, view, root } = setup();
    kernelSends(model, [0, 1, 2]);
    kernelSends(model, [0], 99); // Python's own w.send({...}): not the kernel's sequence
    expect(ctl.store.version).toBe(0);
    expect(ctl.store.size).toBe(3);
    ctl.goto(3);
    view!.render();
    expect(root.querySelectorAll("[data-alpha]").length).toBe(3);
    expect(status(root)).toBe("");
    // the kernel's own next version: its traits, then its steps
    model.set("version", 1);
    kernelSends(model, [0, 1], 1);
    expect(ctl.store.version).toBe(1);
    expect(ctl.store.size).toBe(2);
    expect(ctl.store.has(0) && ctl.store.has(1)).toBe(true);
  });

  it("a message that comes before its version's traits waits for them, and one the trait passed is dropped", () => {
    const { model, ctl } = setup();
    kernelSends(model, [0, 1]);
    kernelSends(model, [0, 1, 2], 1); // early: a manager that does not keep the order
    kernelSends(model, [3], 2); // passed over below
    expect(ctl.store.version).toBe(0);
    model.set("version", 1);
    expect(ctl.store.version).toBe(1);
    expect(ctl.store.size).toBe(3);
    model.set("version", 3);
    expect(ctl.store.version).toBe(3);
    expect(ctl.store.size).toBe(0); // version 2's message was not the kernel's current one
    kernelSends(model, [3], 2); // stale
    expect(ctl.store.size).toBe(0);
  });

  it("a version written in the page (not the kernel's) costs a sync once the kernel puts its own back", () => {
    const { model, ctl } = setup();
    kernelSends(model, [0, 1, 2]);
    model.set("version", 99); // page code's model.set: the store is told to expect version 99
    expect(ctl.store.size).toBe(0);
    kernelSends(model, [0, 1, 2]); // the kernel's own steps of version 0 would be dropped ...
    expect(ctl.store.size).toBe(0);
    model.sent.length = 0;
    model.set("version", 0); // ... until the kernel's answer puts its version back
    expect(ctl.store.version).toBe(0);
    expect(model.sent).toEqual([{ type: "sync", version: 0, have: 0 }]);
    kernelSends(model, [0, 1, 2]);
    expect(ctl.store.size).toBe(3);
  });

  it("holds at most a few future messages, the nearest ones", () => {
    const { model, ctl } = setup();
    for (let v = 50; v > 0; v--) kernelSends(model, [0], v);
    expect((ctl as any).held.map((h: any) => h.version)).toEqual([1, 2, 3, 4]);
  });

  it("a version that is not an integer ≥ 0 is refused with a message, the store untouched", () => {
    const { model, ctl } = setup();
    kernelSends(model, [0, 1]);
    for (const version of ["1", NaN, -1, 1.5, null, 1e400]) {
      const { descs, buffer } = encode([rawStep(0)]);
      model.receive({ type: "steps", version, frontier: 1, T: 4, reason: "step", steps: descs }, [buffer]);
      expect(ctl.message).toMatch(/^bad message from the kernel: a steps message needs an integer version ≥ 0/);
    }
    expect(ctl.store.version).toBe(0);
    expect(ctl.store.size).toBe(2);
  });

  it("a snapshot of a version the trait has not reached is not loaded", () => {
    const { ctl } = setup({ version: 0, _snapshot: snapshot(7, [rawStep(0), rawStep(1)]) });
    expect(ctl.store.version).toBe(0);
    expect(ctl.store.size).toBe(0);
  });
});
