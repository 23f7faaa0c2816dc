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
# - The widget stands at the step that has just read **liked**, drawn in
#   red. The state this step produces must decide between *is* and *are*.
# - Every earlier word is shaded by how much this step attends to it. The
#   darkest is **author**, the subject, not **teachers**, the nearer noun
#   that would pull a careless reader to *are*.
# - ⟨start⟩ stands for $h_0 = 0$, the "look at nothing" slot.
# - Hover a word to read its exact weight; the bars and the triangle below
#   show the same weights, the triangle for every step so far.
#
# Click **Step back** and **Step forward** (or use ← and → while the widget
# has focus), or press **Play**.

# %% [markdown]
# ## Python and the widget share one position
#
# The widget's position `w.t` counts the tokens read so far, from 0 to
# `w.T`. It is synced both ways: clicking in the widget changes `w.t`, and
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
