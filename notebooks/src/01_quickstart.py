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
# `demo("agreement")` loads a small model shipped with the package. It was
# trained to decide whether the verb of a sentence should be *is* or *are*,
# which means it must remember the **subject**, even when another noun
# stands in between.

# %%
from attn_widget import demo

w = demo("agreement")
w

# %% [markdown]
# What to look at:
#
# - The widget stands at position 6: it has read six words, the last being
#   **liked**, drawn in red. The state this step makes, $h_6$, must decide
#   between *is* and *are*.
# - Every earlier word is shaded by its weight $\alpha_{5,i}$: the weights
#   that $h_5$ uses to read *liked*. They are chosen from $h_5$, *before*
#   the network sees *liked*, so they cannot react to the red word; the
#   caption under the words says so too. The darkest is **author**, the
#   subject, not **teachers**, the nearer noun that would pull a careless
#   reader to *are*.
# - ⟨start⟩ stands for $h_0 = 0$, the "look at nothing" slot.
# - Hover a word to read its exact weight; the bars and the triangle below
#   show the same weights, the triangle for every step so far.
#
# Click **Step back** and **Step forward** (or use ← and → while the widget
# has focus), or press **Play**.

# %% [markdown]
# ## Python and the widget share one position
#
# The widget's position `w.t` (also called `w.position`) counts the tokens
# read so far, from 0 to `w.T`; the widget's readout says "read 6 of 9".
# Position k shows step k − 1, the step that read the k-th word. It is
# synced both ways: clicking in the widget changes `w.t`, and
# setting `w.t` (or calling `w.step()`, `w.back()`, `w.goto(k)`,
# `w.reset()`) moves the widget above.

# %%
print("tokens:", w.tokens)
print("position:", w.t, "of", w.T)

# %%
step = w.step()  # read one more token: the verb
print("now at", w.t, "- the current token is", repr(w.tokens[w.t - 1]))
print("α of this step over ⟨start⟩ and the words:", step.alpha.numpy().round(3))

# %%
w.goto(2)  # back to the step that read "author"
print("position:", w.t)

# %% [markdown]
# Scroll up: the widget moved. Setting the trait does the same:

# %%
w.t = 6  # back to the step before the verb
print("position:", w.t, "- current token", repr(w.tokens[w.t - 1]))

# %% [markdown]
# Every step the widget shows was computed by the
# PyTorch model in this kernel; the widget draws the numbers and never
# computes anything itself.
#
# Next: `02_the_equations` builds the model up equation by equation.

# %% [markdown]
# ## Exercise
#
# At every position k = 1 … T, which word does the widget shade darkest?
# Use `w.goto(k)` and `w.current.alpha` (slot 0 is ⟨start⟩, slot i ≥ 1 is
# the i-th word). At which positions is it the subject, *author*?
#
# The solution is hidden below: click the collapsed cell to open it.

# %% [solution]
darkest = {}
for k in range(1, w.T + 1):
    alpha = w.goto(k).alpha  # α_{k-1, 0 … k-1}
    i = int(alpha.argmax())
    darkest[k] = "⟨start⟩" if i == 0 else w.tokens[i - 1]
    print(f"position {k} (read {w.tokens[k - 1]!r}): darkest {darkest[k]!r}")
print("the subject is darkest at positions", [k for k, word in darkest.items() if word == "author"])
_ = w.goto(6)  # back where the widget was
