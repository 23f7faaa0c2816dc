"""to_html without a browser: one file, nothing to fetch, a CSP that matches the
inline script and style, a data block no token can break out of, and steps that
are the core's own, cut at STEP_DATA_LIMIT.  (tests/e2e/test_export_e2e.py
opens the page in Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

import attn_widget.render.bundle as bundle_module
from attn_widget import SelfAttentionRNN, compare, demo
from attn_widget.export import EXPORT_FORMAT, to_html
from attn_widget.protocol import STEP_DATA_LIMIT, step_bytes, steps_within, unpack_snapshot
from attn_widget.render.bundle import STATIC
from attn_widget.widget import AttentionWidget

HOSTILE = [
    "</script><img src=x onerror=alert(1)>",
    "<!--",
    "</SCRIPT >",
    "a&amp;b",
    "<script>window.__pwned=1</script>",
    "\u2028",
    "]]>",
]
# Namespace names that the DOM code passes to createElementNS: strings, not fetches.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1998/Math/MathML"}


class Page(HTMLParser):
    """Every tag with its attributes, and the text of each script and style."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.texts: dict[int, str] = {}
        self._open: int | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = len(self.tags) - 1
            self.texts[self._open] = ""

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self.texts[self._open] += data

    def elements(self, tag: str) -> list[tuple[dict, str]]:
        return [(a, self.texts.get(i, "")) for i, (t, a) in enumerate(self.tags) if t == tag]


def small_widget(tokens=None, *, T=6, H=5, seed=0, **kwargs) -> AttentionWidget:
    torch.manual_seed(seed)
    model = SelfAttentionRNN(3, H, update="eq4", align="dot")
    x = torch.randn(T, 3)
    return AttentionWidget(model, tokens=tokens, inputs=x, **kwargs)


def state_of(page: str) -> dict:
    (attrs, text), *more = [
        (a, t) for a, t in Page(page).elements("script") if a.get("type") == "application/json"
    ]
    assert not more and attrs["class"] == "attn-widget-state"
    state = json.loads(text)
    assert state["format"] == EXPORT_FORMAT
    return state


def snapshot_of(panel: dict) -> tuple[int, list[dict], int]:
    return unpack_snapshot(base64.b64decode(panel["_snapshot"]))


def test_one_file_that_fetches_nothing(tmp_path):
    w = small_widget()
    path = tmp_path / "page.html"
    assert to_html(w, path) == path
    page = path.read_text(encoding="utf-8")
    assert page == to_html(w)  # the same page, as text
    assert list(tmp_path.iterdir()) == [path]  # no side files
    parsed = Page(page)
    tags = {t for t, _ in parsed.tags}
    assert tags <= {"html", "head", "meta", "title", "style", "body", "main", "h1", "p", "script"}
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "srcset", "data", "poster", "background"):
            assert name not in attrs, (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)  # no handlers
    scripts = parsed.elements("script")
    assert [a.get("type") for a, _ in scripts] == ["application/json", None]
    assert len(parsed.elements("style")) == 1
    assert set(re.findall(r"https?://[^\s\"'`)<>]*", page)) <= NAMESPACES
    bundle = scripts[1][1]
    assert bundle == (STATIC / "standalone.js").read_text(encoding="utf-8")
    for call in ("fetch(", "XMLHttpRequest", "import(", "WebSocket", "EventSource", "sendBeacon"):
        assert call not in bundle, call
    assert "@import" not in parsed.elements("style")[0][1] and "url(" not in page


def test_csp_allows_exactly_the_inline_script_and_style():
    page = to_html(small_widget(), title="a title")
    parsed = Page(page)
    (meta,) = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert meta["http-equiv"] == "Content-Security-Policy"
    # the policy comes before the first style and script it governs
    assert page.index("Content-Security-Policy") < page.index("<style") < page.index("<script")
    policy = dict((d.split()[0], d.split()[1:]) for d in meta["content"].split(";") if d.strip())
    assert policy["default-src"] == ["'none'"]
    assert "'unsafe-inline'" not in meta["content"] and "http" not in meta["content"]

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    (_, style), (_, script) = parsed.elements("style")[0], parsed.elements("script")[1]
    assert policy["script-src"] == [digest(script)]
    assert policy["style-src"] == [digest(style)]
    assert "\r" not in script + style  # what the browser hashes is what was hashed here
    assert [a for t, a in parsed.tags if t == "h1"] == [{}]
    assert "<title>a title</title>" in page


def test_token_text_cannot_break_out_of_the_data_block():
    tokens = [*HOSTILE, "plain"]
    w = small_widget(tokens, T=len(tokens))
    page = to_html(w, title="<img src=x onerror=alert(2)>")
    parsed = Page(page)
    assert "img" not in {t for t, _ in parsed.tags}
    assert [t for t, _ in parsed.tags].count("script") == 2
    block = page.split('class="attn-widget-state">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block and ">" not in block and "&" not in block
    state = state_of(page)
    assert state["panels"][0]["tokens"] == tokens
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_snapshot_holds_the_cores_steps():
    w = small_widget(T=7, H=4)
    w.goto(3)
    assert len(w.stepper.steps) < w.T  # only what the moves needed, so far
    page = to_html(w)
    assert w.t == 3  # the widget stays where it was
    (panel,) = state_of(page)["panels"]
    version, steps, computed = snapshot_of(panel)
    assert version == w.version and computed == w.T == len(steps) == 7
    for step in steps:
        core = w.stepper.steps[step["t"]]
        for name in ("alpha", "scores", "c", "z", "pre", "h"):
            want = getattr(core, name).detach().numpy().astype(np.float32)  # the codec: exact
            np.testing.assert_array_equal(step[name], want, err_msg=f"{name} of step {step['t']}")
    assert panel["t"] == 3 and panel["T"] == 7 and panel["frontier"] == 7
    assert panel["playing"] is False and panel["status"] == "" and panel["shading"] == "alpha"
    assert panel["tokens"] == list(w.tokens) and panel["hidden_size"] == 4
    assert panel["zero_slot"] is True  # the sums of its equations start at i = 0
    assert panel["z_layout"] == [list(b) for b in w.z_layout]
    for name in ("_esm", "_css", "_anywidget_id", "layout", "_model_name", "_view_name"):
        assert name not in panel
    for name, value in {"editable": False, "accepts_text": False, "vocabulary": []}.items():
        if name in w.trait_names():
            assert panel[name] == value


def test_only_the_steps_computed_so_far_without_all_steps():
    w = small_widget(T=8)
    w.goto(3)
    held = len(w.stepper.steps)
    assert 3 <= held < 8
    (panel,) = state_of(to_html(w, all_steps=False))["panels"]
    _, steps, computed = snapshot_of(panel)
    assert len(steps) == computed == held
    assert panel["t"] == 3 and panel["frontier"] == held


def test_a_heads_predictions_are_in_the_page():
    w = demo("agreement")
    (panel,) = state_of(to_html(w))["panels"]
    _, steps, _ = snapshot_of(panel)
    assert len(steps) == w.T and panel["prediction_labels"] == list(w.prediction_labels)
    for k in (1, w.T):
        step = steps[k - 1]
        want = w.prediction(k)
        got = {
            panel["prediction_labels"][int(i)]: p
            for p, i in zip(step["pred_p"], step["pred_i"], strict=True)
        }
        assert list(got) == list(want)
        # the page's come from one batch of all T states, prediction(k)'s from one
        # state: another CPU may round the two batch sizes differently in the last bits
        np.testing.assert_allclose(
            np.float32(list(got.values())), np.float32(list(want.values())), rtol=1e-5, atol=1e-8
        )


def test_a_long_trace_is_cut_at_the_bound():
    torch.manual_seed(1)
    T = 600
    w = AttentionWidget(SelfAttentionRNN(4, 256), inputs=torch.randn(T, 4))
    w.goto(T)
    (panel,) = state_of(to_html(w))["panels"]
    _, steps, computed = snapshot_of(panel)
    saved = len(steps)
    assert computed == T and 0 < saved < T
    core = w.stepper.steps
    assert saved == steps_within(core, STEP_DATA_LIMIT)
    assert sum(step_bytes(s) for s in core[:saved]) <= STEP_DATA_LIMIT
    assert sum(step_bytes(s) for s in core[: saved + 1]) > STEP_DATA_LIMIT
    assert panel["t"] == saved and panel["frontier"] == saved  # clamped to what the page holds
    # the record through the codec, float32 both: exact
    np.testing.assert_array_equal(steps[-1]["alpha"], core[saved - 1].alpha.numpy())


def test_a_comparison_exports_its_panels_linked_and_cut_together():
    torch.manual_seed(2)
    T = 400
    models = [SelfAttentionRNN(4, 256, update=u) for u in ("eq4", "eq3")]
    cmp = compare(*models, inputs=torch.randn(T, 4), titles=["four", "three"])
    cmp.goto(5)
    state = state_of(to_html(cmp))
    assert state["direction"] == "row"
    first, second = state["panels"]
    assert (first["show_controls"], second["show_controls"]) == (True, False)
    assert (first["title"], second["title"]) == ("four", "three")
    assert first["t"] == second["t"] == 5
    (_, a, ca), (_, b, cb) = snapshot_of(first), snapshot_of(second)
    assert ca == cb == T and 0 < len(a) == len(b) < T  # both cut at one position
    n = len(a)
    panels = [p.stepper.steps for p in cmp.panels]
    assert sum(step_bytes(s) for steps in panels for s in steps[:n]) <= STEP_DATA_LIMIT
    assert sum(step_bytes(s) for steps in panels for s in steps[: n + 1]) > STEP_DATA_LIMIT
    for steps, core in ((a, panels[0]), (b, panels[1])):
        np.testing.assert_array_equal(steps[n - 1]["h"], core[n - 1].h.numpy())  # codec: exact


def test_a_comparison_panel_exported_alone_shows_controls():
    torch.manual_seed(3)
    cmp = compare(SelfAttentionRNN(3, 4), SelfAttentionRNN(3, 4), inputs=torch.randn(5, 3))
    (panel,) = state_of(to_html(cmp.panels[1]))["panels"]
    assert panel["show_controls"] is True


def test_path_may_be_a_str_or_a_path(tmp_path):
    w = small_widget()
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    assert to_html(w, str(a)) == a and to_html(w, b) == b
    assert isinstance(to_html(w, str(a)), Path)
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8") == to_html(w)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((42,), {}, TypeError, "AttentionWidget or a Compare, got int"),
        (("w",), {"path": 3}, TypeError, "path must be"),
        (("w",), {"all_steps": "yes"}, TypeError, "all_steps must be"),
        (("w",), {"title": 5}, TypeError, "title must be"),
    ],
)
def test_bad_arguments(args, kwargs, error, match, tmp_path):
    w = small_widget()
    args = tuple(w if a == "w" else a for a in args)
    with pytest.raises(error, match=match):
        to_html(*args, **kwargs)


def test_a_missing_bundle_names_the_build(monkeypatch, tmp_path):
    w = small_widget()
    (tmp_path / "widget.css").write_text(".attn-widget {}")
    monkeypatch.setattr(bundle_module, "STATIC", tmp_path)
    with pytest.raises(RuntimeError, match=r"missing standalone\.js.*npm"):
        to_html(w)


def test_save_html_methods_write_the_same_page_and_return_its_path(tmp_path):
    """save_html returns the path it wrote, never the page: as a cell's last line
    it must not print 77 kB of HTML into the output."""
    torch.manual_seed(0)
    model = SelfAttentionRNN(3, 4)
    w = AttentionWidget(model, tokens=["a", "b"], inputs=torch.randn(2, 3))
    written = w.save_html(str(tmp_path / "w.html"), title="two tokens")
    assert written == tmp_path / "w.html" and isinstance(written, Path)
    assert written.read_text(encoding="utf-8") == to_html(w, title="two tokens")
    cmp = compare(model, SelfAttentionRNN(3, 4, update="eq1"), inputs=torch.randn(2, 3))
    assert cmp.direction == "row"
    assert cmp.save_html(tmp_path / "c.html") == tmp_path / "c.html"
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert page == to_html(cmp)
    assert state_of(page)["direction"] == "row"
    column = compare(model, SelfAttentionRNN(3, 4), inputs=torch.randn(2, 3), direction="column")
    assert column.direction == "column" and state_of(to_html(column))["direction"] == "column"


@pytest.mark.parametrize("path", [None, 3, b"w.html"])
def test_save_html_needs_a_path(path):
    w = small_widget()
    with pytest.raises(TypeError, match=r"path must be a str or a path.*to_html\(w\)"):
        w.save_html(path)
    with pytest.raises(TypeError, match="path must be a str or a path"):
        compare(SelfAttentionRNN(3, 4), SelfAttentionRNN(3, 4), inputs=torch.randn(2, 3)).save_html(
            path
        )


def test_a_title_that_utf8_cannot_carry_is_refused_clearly(tmp_path):
    w = AttentionWidget(SelfAttentionRNN(3, 4), inputs=torch.randn(2, 3))
    with pytest.raises(ValueError, match="surrogate"):
        to_html(w, tmp_path / "x.html", title="a \ud800 b")
    assert not (tmp_path / "x.html").exists()
