"""w.figure(): a step as a matplotlib figure, in the widget's own colour scales."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure

import attn_widget.widget as widget_module
from attn_widget import LSTMN, AttentionWidget, SelfAttentionRNN
from attn_widget.render import figure as figure_module

FORMAT_TS = Path(__file__).resolve().parent.parent / "js" / "src" / "format.ts"


@pytest.fixture(autouse=True)
def _stub_bundle(monkeypatch):
    if not (widget_module.STATIC / "widget.js").is_file():
        monkeypatch.setattr(widget_module, "_bundle", lambda: ("", ""))


def ts_stops(name: str) -> list[tuple[int, int, int]]:
    body = re.search(rf"const {name}: RGB\[\] = \[(.*?)\];", FORMAT_TS.read_text(), re.S).group(1)
    return [tuple(map(int, m)) for m in re.findall(r"\[(\d+), (\d+), (\d+)\]", body)]


def test_the_colour_stops_are_the_widgets():
    for name in ("WEIGHT", "NEG", "POS"):
        assert getattr(figure_module, name) == ts_stops(name), name


def token_boxes(fig: Figure) -> dict[str, tuple]:
    """Each token's text and its box colour, from the tokens axes."""
    ax = fig.axes[0]
    return {t.get_gid(): (t.get_text(), t.get_bbox_patch().get_facecolor()) for t in ax.texts}


def test_a_step_draws_its_tokens_weights_and_matrix_from_the_records():
    torch.manual_seed(0)
    tokens = ["the", "$x$", "<img src=x onerror=alert(1)>", "here"]
    w = AttentionWidget(SelfAttentionRNN(3, 5), tokens=tokens, inputs=torch.randn(4, 3))
    fig = w.figure(3)
    assert isinstance(fig, Figure) and w.t == 0  # drawing moves nothing
    boxes = token_boxes(fig)
    assert [boxes[f"token-{i}"][0] for i in range(5)] == [
        "⟨start⟩",
        "the",
        r"\$x\$",
        tokens[2],
        "here",
    ]
    alpha = w.stepper.steps[2].alpha
    for i in range(3):  # slots 0 … 2 shaded by α_{2,i}, in the widget's weight colours
        want = figure_module.weight_colour(float(alpha[i]))
        assert boxes[f"token-{i}"][1][:3] == pytest.approx(want, abs=1e-9)
    assert boxes["token-3"][1][:3] == pytest.approx((0xD6 / 255, 0x27 / 255, 0x28 / 255))  # red
    matrix = fig.axes[1].images[0].get_array()
    assert matrix.shape == (4, 5)
    for t in range(3):
        np.testing.assert_allclose(matrix[t, : t + 1], w.stepper.steps[t].alpha.numpy())
    assert matrix.mask[3].all() and matrix.mask[0, 1:].all()  # rows after k-1, and i > t: empty
    labels = [label.get_text() for label in fig.axes[1].get_xticklabels()]
    assert labels[3] == tokens[2]
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    assert "<img" not in svg.getvalue() and "&lt;img src=x" in svg.getvalue()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=50)
    assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strips_for_each_model_and_position_zero():
    torch.manual_seed(1)
    x = torch.randn(3, 3)
    eq1 = AttentionWidget(SelfAttentionRNN(3, 4, update="eq1"), inputs=x)
    fig = eq1.figure(2)
    assert len(fig.axes[0].texts) == 4  # ⟨start⟩ and the three tokens
    names = [t.get_text() for t in fig.axes[1].get_yticklabels()]  # no matrix for eq1: strips next
    assert names == ["h_2", "h_1"]
    lstmn = AttentionWidget(LSTMN(3, 4), inputs=x)
    fig = lstmn.figure(2)
    strips_ax = [ax for ax in fig.axes if ax.get_yticklabels() and ax.images][-1]
    names = [t.get_text() for t in strips_ax.get_yticklabels()]
    m = lstmn.stepper.steps[1].m.numpy()
    scale = float(np.abs(m).max())  # m is not squashed: scaled by its largest, as in the widget
    assert names == ["h_2", "h_1", "h̃_1", f"m̃_1 (÷ {scale:.3g})", f"m_2 (÷ {scale:.3g})"]
    data = strips_ax.images[0].get_array()
    np.testing.assert_allclose(data[4], m / scale, rtol=1e-6)
    np.testing.assert_allclose(data[3], lstmn.stepper.steps[1].m_tilde.numpy() / scale, rtol=1e-6)
    zero = eq1.figure(0, strips=False)
    assert "nothing read yet" in zero.axes[0].get_title(loc="left")
    with pytest.raises(ValueError, match=r"figure position must be in 0 … T = 3"):
        eq1.figure(4)
