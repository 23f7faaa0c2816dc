# %% [markdown]
# # 1 · Quickstart
#
# attn_widget shows a recurrent network reading a sentence one token at a
# time. At every step the network looks back over all the states it has been
# in so far and decides how much of each to use: its **attention weights**
# $\alpha_{t,i}$. The widget draws those weights on the words themselves.
#
# First, make sure the package is in this kernel. If you opened this
# notebook with the README's command it already is, and this cell does
# nothing. If this cell installs it, **reload the page once** afterwards:
# JupyterLab loads a widget library's front end (here anywidget's) only when
# the page loads, so until then the widgets below show only as text.

# %%
import importlib.util

if importlib.util.find_spec("attn_widget") is None:
    %pip install -q -e ..

# %% [markdown]
# ## A trained model in three lines
#
# `demo()` loads a small model shipped with the package, trained on
# **lookup**: a sequence shows six key–value pairs, `k3 v6 k6 v4 …`, then
# `?`, a query key and `.`; at the `.` the model must name the value paired
# with the query key. Which pair that is depends on the query, so the model
# must find it by what it holds, wherever it sits.

# %%
from attn_widget import demo

w = demo()
w

# %% [markdown]
# What to look at:
#
# - The widget stands at the end, position 15: it has read every token, the
#   last being **.**, drawn in red. The state this step makes, $h_{15}$,
#   must name the value; the bars on the right show what the model's head
#   predicts from it.
# - Every earlier token is shaded by its weight $\alpha_{14,i}$: the weights
#   that $h_{14}$ uses to read the `.`. They are chosen from $h_{14}$,
#   *before* the network sees the `.`, so they cannot react to the red
#   token (the caption under the tokens says so too); but $h_{14}$ has just
#   read the query key **k2**, so they can look for its pair.
# - The darkest is **v4**, token 12: the state $h_{12}$, made right after
#   reading `k2 v4`, the first state that holds that key and its value
#   together.
# - ⟨start⟩ stands for $h_0 = 0$, the "look at nothing" slot.
# - Hover a token to read its exact weight; the bars and the triangle below
#   show the same weights, the triangle for every step so far.
#
# Is this one picture typical? The sentence is not a picked one: it is the
# held-out sequence at the median of the weight the answering step puts on
# the value's state. The cell below measures, on 500 fresh held-out
# sequences, where the answering step's largest weight sits, and what the
# answer does when the value's state is hidden from attention (*knockout*),
# or another state instead.

# %%
from attn_widget.demo import demo_model
from attn_widget.lesson import held_out, knockout_effect

model = demo_model()  # the same checkpoint as w's
effect = knockout_effect(model, held_out(model, 500))
claims = {
    "eq4 names the value (≥ 0.95)": effect.accuracy >= 0.95,
    "its largest weight at the answering step sits on the value's state in ≥ 90 % of them": (
        effect.argmax_on_answer >= 0.9
    ),
    "with the value's state hidden it falls to about chance (≤ 0.3)": effect.answer_hidden <= 0.3,
    "with another state hidden it still answers (≥ 0.85)": effect.other_hidden >= 0.85,
}
print(f"{effect.n} held-out sequences, chance {effect.chance}")
for claim, holds in claims.items():
    print(f"{claim}: {holds}")
assert all(claims.values()), effect
made = model.metadata["held_out"]  # measured when the checkpoint was made
print(f"when it was made: on {made['n']} held-out sequences, {made['argmax_on_answer']:.0%}")
print(
    "the plain SimpleRNN (eq1), trained the same way:",
    demo_model(update="eq1").metadata["accuracy"],
)

# %% [markdown]
# So the picture is what the model does on nearly every sequence, and the
# state it weights is the state the answer needs. The plain SimpleRNN,
# eq. (1), has no attention and learns this task only a little above chance
# (1/8): `demo(update="eq1")` shows it on the same sequence.
# `python -m benchmarks.lesson` measures all of this afresh.
#
# Click **Step back** and **Step forward** (or use ← and → while the widget
# has focus), or press **Play**.

# %% [markdown]
# ## Python and the widget share one position
#
# The widget's position `w.t` (also called `w.position`) counts the tokens
# read so far, from 0 to `w.T`; the widget's readout says "read 15 of 15".
# Position k shows step k − 1, the step that read the k-th token. It is
# synced both ways: clicking in the widget changes `w.t`, and
# setting `w.t` (or calling `w.step()`, `w.back()`, `w.goto(k)`,
# `w.reset()`) moves the widget above.

# %%
print("tokens:", w.tokens)
print("position:", w.t, "of", w.T)

# %%
w.goto(13)  # back to the step that read "?"
step = w.step()  # read one more token: the query key
print("now at", w.t, "- the current token is", repr(w.tokens[w.t - 1]))
print("α of this step over ⟨start⟩ and the tokens:", step.alpha.numpy().round(2))

# %%
w.goto(12)  # back to the step that read the value "v4"
print("position:", w.t)

# %% [markdown]
# Scroll up: the widget moved. Setting the trait does the same:

# %%
w.t = 15  # back to the step that answers
print("position:", w.t, "- current token", repr(w.tokens[w.t - 1]))

# %% [markdown]
# Every step the widget shows was computed by the
# PyTorch model in this kernel; the widget draws the numbers and never
# computes anything itself.
#
# Next: `02_the_equations` builds the model up equation by equation, and
# `03_forgetting` asks what attention cures.

# %% [markdown]
# ## Exercise
#
# At every position k = 1 … T, which token does the widget shade darkest?
# Use `w.goto(k)` and `w.current.alpha` (slot 0 is ⟨start⟩, slot i ≥ 1 is
# the i-th token). At which positions is it the value's state, index 12?
#
# The solution is hidden below: click the collapsed cell to open it.

# %% [solution]
# Which token wins a near-tie at an early step can change with the last bits of a
# CPU's sums, so nbval does not compare this output; the answering step's is asserted.
# NBVAL_IGNORE_OUTPUT
darkest = {}
for k in range(1, w.T + 1):
    alpha = w.goto(k).alpha  # α_{k-1, 0 … k-1}
    i = int(alpha.argmax())
    darkest[k] = i
    word = "⟨start⟩" if i == 0 else w.tokens[i - 1]
    print(f"position {k} (read {w.tokens[k - 1]!r}): darkest {word!r} (index {i})")
print("the value's state is darkest at positions", [k for k, i in darkest.items() if i == 12])
assert darkest[w.T] == 12  # at the answer, the value paired with the query key
_ = w.goto(w.T)  # back where the widget was
