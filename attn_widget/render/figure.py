"""A step of a session as a matplotlib figure, for papers and slides.

    fig = w.figure()            # the current position; w.figure(k) for another
    fig.savefig("step.svg")     # or .png, .pdf
    fig = step_figure(session, k)   # the same, from a Session

The figure shows what the widget shows at position k, drawn from the same
step records, under the session's lock: the tokens with x_k in red and every
earlier slot shaded by α_{k-1,i}; the α matrix up to step k-1, labelled by
the tokens, with the current row outlined; the slots hidden from attention
(the session's knockout) hatched, in the tokens and in the matrix's columns;
and, optionally, the state strips (h_k, h_{k-1} and c_{k-1}; for an LSTMN
h̃_{k-1}, m̃_{k-1} and m_k, the last two divided by the largest |m|, as the
widget scales them).  The colour scales are the
widget's own (``js/src/format.ts``; ``tests/test_figure.py`` checks that the
stops agree): white to purple for a weight, purple–white–orange for a state.

Token text is drawn as plain text: a ``$`` is escaped, so nothing is read as
mathtext.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..session import Session, check_position, describe_model

# The widget's colour stops (js/src/format.ts): a weight runs white → purple,
# a state value purple (−) → white (0) → orange (+).
WEIGHT = [(255, 255, 255), (203, 201, 226), (117, 107, 177), (63, 0, 125)]
NEG = [(247, 247, 247), (178, 171, 210), (128, 115, 172), (84, 39, 136)]
POS = [(247, 247, 247), (253, 184, 99), (224, 130, 20), (179, 88, 6)]
CURRENT = "#d62728"  # the current token's red (--aw-current)
HATCH = "////"  # a slot hidden from attention (a knockout): its α is 0 by construction
HIDDEN_EDGE = "#6e7781"
START = "⟨start⟩"


def ramp(stops: list[tuple[int, int, int]], u: float) -> tuple[float, float, float]:
    """The colour at u ∈ [0, 1] along ``stops``, linearly between them, as RGB in 0 … 1
    (the same interpolation and rounding as format.ts's ``ramp``)."""
    x = min(max(float(u), 0.0), 1.0) * (len(stops) - 1)
    i = min(int(x), len(stops) - 2)
    f = x - i
    a, b = stops[i], stops[i + 1]
    return tuple(round(a[j] + (b[j] - a[j]) * f) / 255 for j in range(3))


def weight_colour(alpha: float) -> tuple[float, float, float]:
    return ramp(WEIGHT, alpha)


EMPTY = "#f2f2f2"  # a slot not computed, or a future step: never read as a zero


def _colormap(colours) -> ListedColormap:
    return ListedColormap(list(colours)).with_extremes(bad=EMPTY)


WEIGHT_MAP = _colormap(weight_colour(u / 255) for u in range(256))
DIVERGING_MAP = _colormap(
    [ramp(NEG, 1 - u / 127) for u in range(127)] + [ramp(POS, u / 128) for u in range(129)]
)


def _text(token: str) -> str:
    """Token text as matplotlib shows it literally (no mathtext)."""
    return token.replace("$", r"\$")


def _ink(rgb) -> str:
    r, g, b = (255 * c for c in rgb[:3])
    return "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


def step_figure(session: Session, position: int | None = None, *, strips: bool = True) -> Figure:
    """The session at position k (default: its current one) as a matplotlib Figure.
    Steps not yet computed are computed, with the model as it is now."""
    if not isinstance(session, Session):
        raise TypeError(f"step_figure draws a Session, got {type(session).__name__}")
    with session.lock:
        k = session.position if position is None else position
        k = check_position(k, session.T, "figure position")
        session.compute(k)
        return _draw(session, session.steps[:k], k, strips)


def _draw(session: Session, steps: list, k: int, strips: bool) -> Figure:
    step = steps[-1] if steps else None
    T, tokens = session.T, [START, *session.tokens]
    hidden = set(session.knockout)
    attends = step is None or step.alpha is not None
    lstmn = describe_model(session.model)["update_rule"] == "lstmn"

    rows = [("tokens", 0.9)]
    if attends:
        rows.append(("matrix", 0.34 * (T + 1) + 1.4))
    if strips:
        rows.append(("strips", 1.6))
    width = max(6.0, min(16.0, 0.75 * (T + 1) + 1.5))
    fig = Figure(figsize=(width, sum(h for _, h in rows)), layout="constrained")
    axes = dict(
        zip(
            [name for name, _ in rows],
            fig.subplots(len(rows), 1, height_ratios=[h for _, h in rows], squeeze=False)[:, 0],
            strict=True,
        )
    )

    # tokens: ⟨start⟩ and x_1 … x_T; x_k red, slots 0 … k-1 shaded by α_{k-1,i}
    ax = axes["tokens"]
    ax.set_axis_off()
    ax.set(xlim=(-0.6, T + 0.6), ylim=(-0.5, 0.5))
    for i, token in enumerate(tokens):
        style = {"boxstyle": "round,pad=0.3", "ec": "none", "fc": "none"}
        colour = "#111111"
        if i == k and k > 0:
            style["fc"], colour = CURRENT, "#ffffff"
        elif step is not None and step.alpha is not None and i < k:
            face = weight_colour(float(step.alpha[i]))
            style["fc"], colour = face, _ink(face)
        elif i > k:
            colour = "#aaaaaa"
        if i in hidden:
            style.update(hatch=HATCH, ec=HIDDEN_EDGE, lw=0.8)
        ax.text(
            i,
            0,
            _text(token),
            ha="center",
            va="center",
            color=colour,
            bbox=style,
            fontsize=10,
            gid=f"token-{i}",
        )
    ax.set_title(_caption(session, k), fontsize=10, loc="left")

    if attends:
        ax = axes["matrix"]
        alpha = np.full((T, T + 1), np.nan)
        for s in steps:
            if s.alpha is not None:
                alpha[s.t, : s.t + 1] = s.alpha.detach().cpu().numpy()
        image = ax.imshow(
            np.ma.masked_invalid(alpha),
            cmap=WEIGHT_MAP,
            vmin=0,
            vmax=1,
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_xticks(range(T + 1), [_text(t) for t in tokens], rotation=90, fontsize=8)
        ax.set_yticks(range(T), [_text(t) for t in tokens[1:]], fontsize=8)
        for i in sorted(hidden):
            if i < T:  # slot i is read by steps i … T-1
                ax.add_patch(
                    Rectangle((i - 0.5, i - 0.5), 1, T - i, fill=False, hatch=HATCH, ec=HIDDEN_EDGE)
                )
        if k > 0:
            ax.get_yticklabels()[k - 1].set_color(CURRENT)
            ax.add_patch(Rectangle((-0.5, k - 1.5), k, 1, fill=False, ec=CURRENT, lw=2))
        ax.set_title("α: row j read x_j; column i is slot i", fontsize=9, loc="left")
        fig.colorbar(image, ax=ax, fraction=0.03, label="α")

    if strips:
        ax = axes["strips"]
        named = _strips(session, steps, k, lstmn)
        data = np.full((len(named), session.model.hidden_size), np.nan)
        for r, (_, values) in enumerate(named):
            if values is not None:
                data[r] = values
        image = ax.imshow(
            np.ma.masked_invalid(data),
            cmap=DIVERGING_MAP,
            vmin=-1,
            vmax=1,
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_yticks(range(len(named)), [name for name, _ in named], fontsize=9)
        ax.set_xticks([])
        fig.colorbar(image, ax=ax, fraction=0.03, label="value (−1 … 1)")
    return fig


def _caption(session: Session, k: int) -> str:
    if k == 0:
        caption = f"read 0 of {session.T}: nothing read yet, h_0 = 0"
    else:
        caption = (
            f"read {k} of {session.T}: “{_text(session.tokens[k - 1])}” (red) is x_{k}; "
            f"shading α_{k - 1},i"
        )
    hidden = session.knockout
    if hidden:
        caption += f"\nhidden from attention: slot{'s' if len(hidden) > 1 else ''} "
        caption += ", ".join(str(i) for i in hidden) + " (hatched, α = 0)"
    return caption


def _strips(session: Session, steps, k: int, lstmn: bool) -> list[tuple[str, np.ndarray | None]]:
    H = session.model.hidden_size
    zeros = np.zeros(H)

    def h(i: int):
        return zeros if i == 0 else steps[i - 1].h.detach().cpu().numpy()

    step = steps[-1] if steps else None
    named = [(f"h_{k}", h(k)), (f"h_{k - 1}", h(k - 1) if k > 0 else None)]
    if lstmn:
        pick = (
            (lambda name: None)
            if step is None
            else (lambda name: getattr(step, name).detach().cpu().numpy())
        )
        named.append((f"h̃_{k - 1}", pick("h_tilde")))
        # m is not squashed: as in the widget, m̃ and m share the scale of this m
        m, m_tilde = pick("m"), pick("m_tilde")
        scale = float(np.abs(m).max()) if m is not None and np.abs(m).max() > 0 else 1.0
        shown = f" (÷ {scale:.3g})" if scale != 1.0 else ""
        named += [
            (f"m̃_{k - 1}{shown}", None if m_tilde is None else m_tilde / scale),
            (f"m_{k}{shown}", None if m is None else m / scale),
        ]
    elif step is None or getattr(step, "c", None) is not None:
        named.append((f"c_{k - 1}", None if step is None else step.c.detach().cpu().numpy()))
    return named
