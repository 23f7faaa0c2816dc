"""The widget in a real JupyterLab, in headless Chromium: latency, play, first render, wire, memory.

    python -m benchmarks.widget [--quick]

Every model is eq4/dot with D = 64.  Times in the page come from
``performance.now()``; each latency runs from the click (a capture-phase
listener on ``document``) to the end of the first frame that shows the data:

* "data in the DOM": a MutationObserver sees the wanted state, i.e. token k
  carries ``aria-current="step"`` *and* token k-1 carries ``data-alpha``
  (α of step k-1).  The current-token mark alone is not enough: the click
  handler moves it at once, before the kernel's step has arrived.
* "painted": a task posted (MessageChannel) from inside the frame that drew
  that DOM; it runs once the frame's style, layout and paint are done on the
  main thread.  If the DOM changed outside a frame (a click handler drawing
  synchronously), the task is posted from the next requestAnimationFrame.
  This is tighter than a double rAF, which overshoots by up to one frame.
  Compositing and display happen after it, off the main thread.

Long tasks come from ``PerformanceObserver({type: "longtask"})`` (every main
thread task over 50 ms) and, where Chromium has it, "long-animation-frame".
Bytes per step are counted in-process by a spy on the widget's ``_send``
(what goes on the comm: the "steps" message and the trait updates).  Browser
memory comes from the DevTools protocol: V8 heap usage after a forced GC, and
every Float32Array in the heap (``Runtime.queryObjects``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import torch  # noqa: E402

from benchmarks.common import machine, mib, set_threads, table  # noqa: E402

D = 64

# Kernel-side helpers, run once in the notebook.
SETUP = f"""
import json, time, torch
torch.set_num_threads(1)
from attn_widget import AttentionWidget, SelfAttentionRNN

def make(T, H, seed=0):
    torch.manual_seed(seed)
    model = SelfAttentionRNN({D}, H, update="eq4", align="dot")
    return model, torch.randn(T, {D}), [f"w{{i}}" for i in range(1, T + 1)]
"""

# Installed once per page: click time, frame tracking, "after paint" and a watcher.
_JS_INSTRUMENT = """
() => {
  if (window.__awBench) return;
  const B = (window.__awBench = { clickAt: null, inFrame: false, results: [], longtasks: [],
                                  loafs: [], ticks: [] });
  const raf = window.requestAnimationFrame.bind(window);
  const clear = new MessageChannel();
  let clearPosted = false;
  clear.port1.onmessage = () => { clearPosted = false; B.inFrame = false; };
  // Mark "inside a frame" from the first rAF callback until the frame's task ends.
  window.requestAnimationFrame = (cb) => raf((ts) => {
    B.inFrame = true;
    if (!clearPosted) { clearPosted = true; clear.port2.postMessage(0); }
    cb(ts);
  });
  document.addEventListener("click", () => { B.clickAt = performance.now(); }, true);
  B.afterPaint = (fn) => {
    const post = () => {
      const c = new MessageChannel();
      c.port1.onmessage = () => fn(performance.now());
      c.port2.postMessage(0);
    };
    if (B.inFrame) post(); else raf(post);
  };
  // Record {click, dom, paint} once `ok()` holds after a mutation under `node`.
  B.watch = (node, ok, filter) => {
    const done = () => {
      const dom = performance.now(), click = B.clickAt;
      B.afterPaint((paint) => B.results.push({ click, dom, paint }));
    };
    const mo = new MutationObserver(() => { if (ok()) { mo.disconnect(); done(); } });
    const opts = { subtree: true, attributes: true, childList: true };
    if (filter) opts.attributeFilter = filter;
    mo.observe(node, opts);
  };
  // Position k shown with its data: token k current, token k-1 shaded by α.
  B.shows = (root, k) => () => {
    const cur = root.querySelector('[aria-current="step"]');
    if (!cur || cur.dataset.index !== String(k)) return false;
    const prev = root.querySelector(`[data-index="${k - 1}"]`);
    return !!prev && prev.hasAttribute("data-alpha");
  };
}
"""

_JS_WATCH_POSITION = """
(root, k) => {
  const B = window.__awBench;
  B.clickAt = null;
  B.watch(root, B.shows(root, k), ["aria-current", "data-alpha"]);
}
"""

_JS_PLAY_START = """
(root) => {
  const B = window.__awBench;
  B.longtasks = []; B.loafs = []; B.ticks = [];
  // [start, duration] of each: a task that starts before the click event (the
  // mousedown, where JupyterLab makes the view's cell the active one) is reported apart
  const keep = (list) => (l) => {
    for (const e of l.getEntries()) list.push([e.startTime, e.duration]);
  };
  B.observers = [new PerformanceObserver(keep(B.longtasks))];
  B.observers[0].observe({ type: "longtask" });
  B.hasLoaf = PerformanceObserver.supportedEntryTypes.includes("long-animation-frame");
  if (B.hasLoaf) {
    const o = new PerformanceObserver(keep(B.loafs));
    o.observe({ type: "long-animation-frame" });
    B.observers.push(o);
  }
  const mo = new MutationObserver(() => B.ticks.push([performance.now(), Number(root.dataset.t)]));
  mo.observe(root, { attributes: true, attributeFilter: ["data-t"] });
  B.observers.push(mo);
}
"""

_JS_SCRUB_BACK = """
async (root, [from, to, per]) => {
  const scrub = root.querySelector('.aw-scrubber');
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const drawn = (k) => {
    const prev = root.querySelector(`[data-index="${k - 1}"]`);
    return Boolean(prev && prev.hasAttribute('data-alpha'));
  };
  // First the scrubber is put at `from` and left there until its step is drawn:
  // coming from afar (the store keeps steps near the position), that is a jump's
  // wait, reported apart from the scrub itself.
  const s0 = performance.now();
  scrub.value = String(from);
  scrub.dispatchEvent(new Event('input'));
  while (!drawn(from) && performance.now() - s0 < 60000) await frame();
  const settle = (performance.now() - s0) / 1e3;
  const t0 = performance.now();
  const missed = [];
  let shown = 0;
  for (let k = from; k > to; k -= per) {
    scrub.value = String(k);
    scrub.dispatchEvent(new Event('input'));  // drawn at once, as a drag is
    if (!drawn(k)) missed.push(k);
    shown++;
    await frame();
  }
  return { missing: missed.length, missed, shown, settle, seconds: (performance.now() - t0) / 1e3 };
}
"""

_JS_ON_SCREEN = """
() => [...document.querySelectorAll('.attn-widget')].filter((e) => {
  const r = e.getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
}).length
"""

_JS_PLAY_STOP = """
() => {
  const B = window.__awBench;
  for (const o of B.observers) { if (o.takeRecords) o.takeRecords(); o.disconnect(); }
  return { longtasks: B.longtasks, loafs: B.loafs, hasLoaf: B.hasLoaf, ticks: B.ticks,
           clickAt: B.clickAt };
}
"""


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0 … 100), linear between closest ranks."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def verdict(value: float, goal: float, unit: str = "ms") -> str:
    if value <= goal:
        return f"MET ({value:.1f} {unit} ≤ {goal:g} {unit})"
    return f"MISSED by {value - goal:.1f} {unit} ({value:.1f} > {goal:g})"


# -- 5. bytes per step, in-process --------------------------------------------


def bytes_per_step(ts: list[int], hs: list[int]) -> list[list[str]]:
    """What one new step puts on the comm, from a spy on the widget's ``_send``."""
    from attn_widget import AttentionWidget, SelfAttentionRNN

    rows = []
    for H in hs:
        torch.manual_seed(0)
        model = SelfAttentionRNN(D, H, update="eq4", align="dot")
        T = max(ts) + 1
        w = AttentionWidget(
            model, tokens=[f"w{i}" for i in range(1, T + 1)], inputs=torch.randn(T, D)
        )
        sent: list[tuple[dict, list]] = []

        def spy(msg, buffers=None, sent=sent):
            sent.append((msg, list(buffers or [])))

        w._send = spy  # noqa: SLF001
        for t in ts:
            w.goto(t)  # steps 0 … t-1 are computed and sent
            sent.clear()
            w.step()  # step t only
            steps = [(m, b) for m, b in sent if m.get("method") == "custom"]
            others = [(m, b) for m, b in sent if m.get("method") != "custom"]
            ((msg, bufs),) = steps
            assert [d["t"] for d in msg["content"]["steps"]] == [t]
            buf = sum(memoryview(b).nbytes for b in bufs)
            js = len(json.dumps(msg["content"], separators=(",", ":")))
            other = sum(len(json.dumps(m, separators=(",", ":"))) for m, _ in others)
            z = H + D + H  # eq4: [h_t; x_{t+1}; c_t]
            formula = 4 * (2 * (t + 1) + z + 3 * H)
            rows.append(
                [
                    str(H),
                    str(t),
                    f"{buf:,}",
                    f"{formula:,}",
                    "yes" if buf == formula else "NO",
                    f"{js:,}",
                    f"{other:,} ({len(others)} msg)",
                    f"{buf + js + other:,}",
                ]
            )
        # No w.close(): outside a kernel the widget's comm was never registered,
        # and ipykernel's comm manager raises KeyError on closing it.
    return rows


# -- the browser part ---------------------------------------------------------


class Bench:
    def __init__(self, nb, page, quick: bool):
        self.nb, self.page, self.quick = nb, page, quick

    def cell_with_widget(self, code: str, timeout_ms: float = 120_000):
        """Run a cell whose last line displays a widget; return the widget's root locator."""
        index = self.nb.start(code)
        self.nb.wait_cell(index, code.splitlines()[-1])
        root = self.nb.cell(index).locator(".attn-widget")
        root.wait_for(timeout=timeout_ms)
        return root

    def click_latency(self, root, name: str, positions: list[int]) -> list[float]:
        """Click ``name`` once per target position; click → paint of that position, ms."""
        button = root.get_by_role("button", name=name, exact=True)
        out = []
        for k in positions:
            n = self.page.evaluate("() => window.__awBench.results.length")
            root.evaluate(_JS_WATCH_POSITION, k)
            button.click()
            self.page.wait_for_function(
                f"() => window.__awBench.results.length > {n}", timeout=30_000, polling="raf"
            )
            r = self.page.evaluate(f"() => window.__awBench.results[{n}]")
            if r["click"] is None:
                raise RuntimeError("the click listener did not fire")
            out.append((r["dom"] - r["click"], r["paint"] - r["click"]))
        return out

    def latency(self) -> tuple[list[list[str]], dict]:
        n = 15 if self.quick else 40
        warm = 3
        T = 200
        root = self.cell_with_widget(
            f"m, x, tok = make({T}, 128)\n"
            "w_click = AttentionWidget(m, tokens=tok, inputs=x)\nw_click"
        )
        fwd = self.click_latency(root, "Step forward", list(range(1, warm + n + 1)))[warm:]
        frontier = int(self.nb.run("print(w_click.frontier)").strip())
        # Every click's step was computed by then, most of them ahead of the click
        # (AHEAD_STEPS after each answered move), so the click found it in the store.
        assert frontier >= warm + n, f"frontier {frontier}, expected ≥ {warm + n}"
        top = warm + n
        back = self.click_latency(root, "Step back", list(range(top - 1, top - 1 - n, -1)))
        again = self.click_latency(root, "Step forward", list(range(top - n + 1, top - n + 1 + n)))
        rows = []
        for label, data in (
            (f"Step forward to a new position (kernel computes ahead), T = {T}, H = 128", fwd),
            ("Step back, cached", back),
            ("Step forward, cached (already in the store)", again),
        ):
            dom = [d for d, _ in data]
            paint = [p for _, p in data]
            rows.append(
                [
                    label,
                    str(len(data)),
                    f"{pct(dom, 50):.1f} / {pct(dom, 95):.1f}",
                    f"{pct(paint, 50):.1f} / {pct(paint, 95):.1f}",
                    f"{max(paint):.1f}",
                ]
            )
        res = {"fwd": [p for _, p in fwd], "back": [p for _, p in back]}
        return rows, res

    def play(self, precompute: bool, steps: int, views: int = 1) -> tuple[list[str], dict]:
        """Play at 30/s from 0 to ``steps`` in ``views`` views of one widget, all on screen."""
        T, H = 1000, 256
        name = f"w_play{'_pre' if precompute else ''}{views}"
        root = self.cell_with_widget(
            f"m, x, tok = make({T}, {H})\n"
            f"t0 = time.perf_counter()\n"
            f"{name} = AttentionWidget(m, tokens=tok, inputs=x, precompute={precompute})\n"
            f"{name}.speed = 30\n"
            f"{name}"
        )
        cells = []
        for _ in range(views - 1):  # another view of the same widget, in the next cell
            index = self.nb.start(name)
            self.nb.wait_cell(index, name)
            self.nb.cell(index).locator(".attn-widget").wait_for()
            cells.append(index)
        # Every view on screen, one view too: a window tall enough, the first view at
        # its top (off screen, Chromium would not paint a view at all, and the rate
        # would not count drawing).
        self.page.set_viewport_size({"width": 1280, "height": 1100 * views + 200})
        root.evaluate("e => e.closest('.jp-Cell').scrollIntoView({block: 'start'})")
        self.page.wait_for_timeout(500)
        on_screen = self.page.evaluate(_JS_ON_SCREEN)
        root.evaluate(_JS_PLAY_START)
        root.get_by_role("button", name="Play", exact=True).click()
        timeout = (steps / 30) * 3 + 20
        try:
            self.page.wait_for_function(
                f"(root) => Number(root.dataset.t) >= {steps}",
                arg=root.element_handle(),
                timeout=timeout * 1000,
                polling=200,
            )
        finally:
            rec = self.page.evaluate(_JS_PLAY_STOP)
            if self.nb.page.evaluate(
                "(root) => !!root.querySelector('[aria-label=\"Pause\"]')", root.element_handle()
            ):
                root.get_by_role("button", name="Pause", exact=True).click()
            self.page.set_viewport_size({"width": 1280, "height": 900})
        # The widget keeps its views: close it, so that the next runs draw only their own.
        self.nb.run(f"{name}.close()")
        ticks = [(tt, k) for tt, k in rec["ticks"] if k <= steps]
        (t_first, k_first), (t_last, k_last) = ticks[0], ticks[-1]
        rate = (k_last - k_first) / ((t_last - t_first) / 1e3)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(ticks)]
        # Play's tasks: from the click event on.  Before it, the mousedown: JupyterLab
        # makes the clicked view's cell the active one (60 ms traced with two views,
        # where the other view's cell was active), reported apart.
        click = rec["clickAt"] if rec["clickAt"] is not None else float("-inf")
        lt = [d for start, d in rec["longtasks"] if start >= click]
        at_click = [d for start, d in rec["longtasks"] if start < click]
        loafs = [d for start, d in rec["loafs"] if start >= click]
        loaf = (
            f"{sum(d > 50 for d in loafs)} (longest {max(loafs, default=0):.0f} ms)"
            if rec["hasLoaf"]
            else "n/a"
        )
        return [
            f"{'precomputed' if precompute else 'on demand (kernel in the loop)'}, {k_last} steps",
            f"{views} ({on_screen} on screen)",
            f"{rate:.1f}",
            f"{pct(gaps, 50):.0f} / {pct(gaps, 95):.0f} / {max(gaps):.0f}",
            str(sum(d > 50 for d in lt)),
            f"{max(lt, default=0):.0f}",
            loaf,
            f"{max(at_click, default=0):.0f}",
        ], {"longtasks": lt, "rate": rate}

    def first_render(self, T: int, H: int) -> tuple[list[list[str]], dict]:
        from labdriver import _JS_APPEND_AND_START

        k = self.nb.run_json(
            f"m, x, tok = make({T}, {H})\n"
            "t0 = time.perf_counter()\n"
            "s = m.stepper(x); s.goto(len(tok))\n"
            "t1 = time.perf_counter()\n"
            "w_first = AttentionWidget(m, tokens=tok, inputs=x, precompute=True)\n"
            "t2 = time.perf_counter()\n"
            "w_first.goto(w_first.T)\n"
            "del s\n"
            "print(json.dumps({'stepper': t1 - t0, 'widget': t2 - t1,"
            " 'snapshot': len(w_first._snapshot)}))"
        )
        timed_start = (
            "async (code) => {\n"
            "  const B = window.__awBench, panel = window.__attnPanel;\n"
            "  const index = panel.content.model.cells.length;\n"
            f"  const k = {T};\n"
            "  const ok = () => {\n"
            "    const cell = panel.content.widgets[index];\n"
            "    const root = cell && cell.node.querySelector('.attn-widget');\n"
            "    if (!root || !root.querySelector('.aw-start[data-index=\"0\"]')) return false;\n"
            "    const canvas = root.querySelector('canvas.aw-matrix');\n"
            "    return !!canvas && canvas.width > 0 && B.shows(root, k)();\n"
            "  };\n"
            "  B.watch(panel.content.node, ok, null);\n"
            "  B.clickAt = performance.now();\n"
            f"  return await ({_JS_APPEND_AND_START})(code);\n"
            "}"
        )
        rows = []
        out = {}
        for label, code in (
            ("display cell `w_first` (model already in the browser)", "w_first"),
            (
                "one cell: construct with precompute=True and display (kernel included)",
                f"w_first2 = AttentionWidget(m, tokens=tok, inputs=x, precompute=True)\n"
                f"w_first2.goto({T})\nw_first2",
            ),
        ):
            if self.quick and "one cell" in label:
                continue
            n = self.page.evaluate("() => window.__awBench.results.length")
            self.nb.wait_idle()
            index = self.page.evaluate(timed_start, code)
            self.page.wait_for_function(
                f"() => window.__awBench.results.length > {n}", timeout=120_000, polling=50
            )
            self.nb.wait_cell(index)
            r = self.page.evaluate(f"() => window.__awBench.results[{n}]")
            paint = r["paint"] - r["click"]
            out.setdefault("display", paint)
            rows.append([label, f"{r['dom'] - r['click']:.0f}", f"{paint:.0f}"])
        rows.append(["kernel: stepper.goto(T), compute only", "", f"{k['stepper'] * 1e3:.0f}"])
        rows.append(
            [
                "kernel: AttentionWidget(precompute=True) (compute + snapshot)",
                "",
                f"{k['widget'] * 1e3:.0f}",
            ]
        )
        out["snapshot"] = k["snapshot"]
        return rows, out

    def heap(self, cdp) -> dict:
        """JS heap and ArrayBuffer backing stores after a forced GC (bytes)."""
        self.page.wait_for_timeout(500)  # let pending message handlers finish
        cdp.send("HeapProfiler.collectGarbage")
        usage = cdp.send("Runtime.getHeapUsage")
        js = self.page.evaluate(
            "() => performance.memory ? performance.memory.usedJSHeapSize : null"
        )
        return {"js": js, "used": usage["usedSize"], "backing": usage.get("backingStorageSize")}

    def memory(self, T: int, H: int) -> tuple[list[list[str]], dict]:
        cdp = self.page.context.new_cdp_session(self.page)
        try:
            # Close the earlier widgets so the numbers below are this one's.
            self.nb.run(
                "for _w in list(globals().values()):\n"
                "    if isinstance(_w, AttentionWidget): _w.close()\n"
            )
            before = self.heap(cdp)
            root = self.cell_with_widget(
                f"m, x, tok = make({T}, {H})\n"
                "w_mem = AttentionWidget(m, tokens=tok, inputs=x)\nw_mem"
            )
            empty = self.heap(cdp)
            start = time.perf_counter()
            self.nb.run(f"w_mem.goto({T})")
            self.page.wait_for_function(
                f"(root) => window.__awBench.shows(root, {T})()",
                arg=root.element_handle(),
                timeout=180_000,
                polling=200,
            )
            arrived = time.perf_counter() - start
            full = self.heap(cdp)
            # Scrubbing back from T, one frame a move: a position shown without its
            # step (token k-1 has no data-alpha) is a visible wait.
            scrubs = [
                (per, root.evaluate(_JS_SCRUB_BACK, [T, max(0, T - span), per]))
                for per, span in ((1, min(T, 1200)), (4, T))
            ]
            scrubbed = self.heap(cdp)
            self.nb.run("w_mem.close()")
            closed = self.heap(cdp)
        finally:
            cdp.detach()
        z = H + D + H
        formula = sum(4 * (2 * (t + 1) + z + 3 * H) for t in range(T))
        rows = []
        for key, label in (
            ("js", "performance.memory.usedJSHeapSize"),
            ("used", "V8 heap used (CDP Runtime.getHeapUsage)"),
            ("backing", "ArrayBuffer backing stores (CDP backingStorageSize)"),
        ):
            vals = [d.get(key) for d in (before, empty, full, scrubbed, closed)]
            if None in vals:
                rows.append([label, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"])
                continue
            rows.append([label, *(mib(v) for v in vals), mib(max(vals[2], vals[3]) - vals[1])])
        rows.append(
            [
                "formula: Σ_t 4·(2(t+1)+dim z+3H), every step as sent",
                "",
                "",
                mib(formula),
                "",
                "",
                mib(formula),
            ]
        )
        most = max(full.get("backing") or 0, scrubbed.get("backing") or 0)
        grown = most - (empty.get("backing") or 0)
        freed = (scrubbed.get("backing") or 0) - (closed.get("backing") or 0)
        return rows, {
            "arrived": arrived,
            "formula": formula,
            "grown": grown,
            "freed": freed,
            "scrubs": scrubs,
        }


def run_browser(quick: bool) -> None:
    from labdriver import CHROMIUM_ARGS, LabNotebook, find_chromium, start_lab, write_notebook
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit(
            "the widget benchmark needs Chromium (/usr/bin/chromium or $ATTN_E2E_CHROMIUM)"
        )
    goals: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="attn-bench-") as tmp:
        server = start_lab(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium, args=[*CHROMIUM_ARGS, "--enable-precise-memory-info"]
                )
                try:
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    context.set_default_timeout(60_000)
                    page = context.new_page()
                    write_notebook(server.root, "bench.ipynb", [SETUP])
                    nb = LabNotebook(page, server, "bench.ipynb", timeout_ms=180_000).open()
                    nb.run_all()
                    page.evaluate(_JS_INSTRUMENT)
                    bench = Bench(nb, page, quick)
                    print(
                        f"Chromium {browser.version} (headless, --disable-gpu), JupyterLab, "
                        "kernel on 1 torch thread.\n",
                        flush=True,
                    )
                    goals += section_latency(bench)
                    goals += section_play(bench, quick)
                    goals += section_first_render(bench)
                    goals += section_memory(bench, quick)
                finally:
                    browser.close()
        finally:
            server.stop()
    print("### Goals\n")
    print(table(["goal", "verdict"], goals))


def section_latency(bench: Bench) -> list[list[str]]:
    rows, res = bench.latency()
    print("### 1–2. Click → paint (ms, p50 / p95; median of many clicks, machine shared)\n")
    print(
        table(["click", "n", "→ data in DOM p50 / p95", "→ painted p50 / p95", "max painted"], rows)
    )
    print(flush=True)
    return [
        ["new step p50 ≤ 30 ms", verdict(pct(res["fwd"], 50), 30)],
        ["new step p95 ≤ 60 ms", verdict(pct(res["fwd"], 95), 60)],
        ["cached back-step p50 ≤ 16 ms", verdict(pct(res["back"], 50), 16)],
        ["cached back-step p95 ≤ 16 ms", verdict(pct(res["back"], 95), 16)],
    ]


#: Play's goal (#27): at 30 asked, T = 1000, H = 256, in one view and in two.
PLAY_RATE_GOAL = 28.0
LONG_TASK_MS = 50.0


def section_play(bench: Bench, quick: bool) -> list[list[str]]:
    steps = 300 if quick else 1000
    runs = [(False, steps, 1), (False, steps, 2)]
    if not quick:
        runs += [(True, 1000, 1), (True, 1000, 2)]
    rows, goals = [], []
    for precompute, n, views in runs:
        row, res = bench.play(precompute, n, views)
        rows.append(row)
        lt = res["longtasks"]
        over = sum(d > LONG_TASK_MS for d in lt)
        longest = max(lt, default=0.0)
        what = f"{'precomputed' if precompute else 'on demand'}, {views} view{'s' * (views > 1)}"
        met = res["rate"] >= PLAY_RATE_GOAL and over == 0
        goals.append(
            [
                f"play 30/s, T = 1000, H = 256 ({what}): ≥ {PLAY_RATE_GOAL:g} steps/s, "
                f"no task > {LONG_TASK_MS:g} ms",
                f"{'MET' if met else 'MISSED'} ({res['rate']:.1f} steps/s; "
                f"{over} tasks > {LONG_TASK_MS:g} ms, longest {longest:.0f} ms)",
            ]
        )
    print("### 3. Play at speed 30 steps/s, T = 1000, H = 256 (widget max speed is 60)\n")
    print(
        table(
            [
                "run",
                "views",
                "steps/s achieved",
                "gap between positions p50 / p95 / max (ms)",
                "long tasks > 50 ms",
                "longest task (ms)",
                "long animation frames > 50 ms",
                "longest task before the click event (ms)",
            ],
            rows,
        )
    )
    print(
        "\nLong tasks count from the click event that starts Play to the last position. "
        "The mousedown before it is JupyterLab's: it makes the clicked view's cell the "
        "active one, and its longest task is in the last column.",
        flush=True,
    )
    print(flush=True)
    return goals


def section_first_render(bench: Bench) -> list[list[str]]:
    T, H = 2000, 256
    rows, res = bench.first_render(T, H)
    print(
        f"### 4. First render of a precomputed trace, T = {T}, H = {H}, shown at position T "
        f"(snapshot {mib(res['snapshot'])})\n"
    )
    print(table(["what", "→ data in DOM (ms)", "→ painted (ms)"], rows))
    print(flush=True)
    return [["first render of precomputed 2000 tokens ≤ 1 s", verdict(res["display"], 1000)]]


#: The browser's budget for one widget's arrays (#27): the store's STORE_LIMIT
#: (js/src/budget.ts, 16 MB = 4 × STEP_DATA_LIMIT), the α matrix's levels and one
#: view's image of them (MAX_PIXELS² float32 and RGBA, 2.25 MiB each), and room for
#: one message being decoded: 24 MiB.
MEMORY_BUDGET = 24 * 2**20


def section_memory(bench: Bench, quick: bool) -> list[list[str]]:
    T, H = (1000, 256) if quick else (4000, 256)
    rows, res = bench.memory(T, H)
    print(
        f"### 6. Browser memory, T = {T}, H = {H}, after a forced GC: before the widget, "
        f"widget shown at 0, at T after `w.goto(T)` ({res['arrived']:.1f} s to painted), "
        "after scrubbing back, after `w.close()`\n"
    )
    print(
        table(
            [
                "measure",
                "before",
                "widget at 0",
                "at T",
                "scrubbed back",
                "closed",
                "Δ (most − at 0)",
            ],
            rows,
        )
    )
    print(
        f"\nArrayBuffer growth {mib(res['grown'])} against {mib(res['formula'])} of steps sent "
        f"(ratio {res['grown'] / res['formula']:.2f}); the store keeps at most 16 MB of them "
        "(no scores; the steps farthest from the position are dropped and asked for again), "
        "the α matrix every row at pixel resolution.  "
        f"Freed by `w.close()`: {mib(res['freed'])}.\n"
    )
    scrub_rows = [
        [
            f"{r['shown']} positions from {T}, {per} a frame",
            f"{r['settle']:.2f}",
            f"{r['missing']}" + (f" ({_spans(r['missed'], per)})" if r["missed"] else ""),
            f"{r['seconds']:.1f}",
        ]
        for per, r in res["scrubs"]
    ]
    print(
        "Scrubbing back (the scrubber put at T and left until its step is drawn, then "
        "moved once a frame, each position checked as drawn):\n"
    )
    header = ["scrub", "wait at T (s)", "positions shown without their step", "seconds"]
    print(table(header, scrub_rows))
    print(flush=True)
    missing = sum(r["missing"] for _, r in res["scrubs"])
    return [
        [
            f"browser memory at T = {T}, H = {H}: ArrayBuffer growth ≤ {mib(MEMORY_BUDGET)}",
            f"{'MET' if res['grown'] <= MEMORY_BUDGET else 'MISSED'} ({mib(res['grown'])})",
        ],
        [
            "scrubbing back: no position shown without its step",
            f"{'MET' if missing == 0 else 'MISSED'} ({missing} of "
            f"{sum(r['shown'] for _, r in res['scrubs'])})",
        ],
    ]


def _spans(positions: list[int], per: int) -> str:
    """Positions as runs of consecutive scrub moves: [4000, 3996, 3992, 100] → "4000…3992, 100"."""
    runs: list[list[int]] = []
    for k in positions:
        if runs and runs[-1][-1] - k == per:
            runs[-1].append(k)
        else:
            runs.append([k])
    return ", ".join(f"{r[0]}…{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer clicks, shorter play, T=1000 memory"
    )
    args = parser.parse_args(argv)
    set_threads(1)  # like the other suites; the kernel sets its own to 1 too
    print("## Widget in JupyterLab (eq4/dot, D = 64)\n")
    print(machine())
    print()
    rows = bytes_per_step([10, 100, 1000], [128, 256])
    print("### 5. Bytes on the wire per new step (in-process spy on the widget's `_send`)\n")
    print(
        table(
            [
                "H",
                "step t",
                "buffer bytes",
                "4·(2(t+1)+dim z+3H)",
                "equal",
                "steps JSON bytes",
                "trait updates (JSON)",
                "total",
            ],
            rows,
        )
    )
    print(
        "\ndim z = 2H + D for eq4.  Per step: 8 bytes per past state (scores and α) plus "
        "4·(dim z+3H) bytes, so O(t + H); the JSON part is constant.\n",
        flush=True,
    )
    run_browser(args.quick)


if __name__ == "__main__":
    main()
