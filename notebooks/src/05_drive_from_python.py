# %% [markdown]
# # 5 · Driving the widget from Python
#
# The widget and the kernel share one position, `w.t`. This notebook uses
# that link the other way round: Python moves the widget, listens to it,
# pushes training progress into it, and takes its numbers out again.

# %%
import math
import time

import torch

from attn_widget import AttentionWidget, demo
from attn_widget.tasks import agreement
from attn_widget.text import TextRNN
from attn_widget.train import train

torch.set_num_threads(1)  # models this small train faster on one thread than on several
w = demo("agreement")
w.reset()
w

# %% [markdown]
# ## Listen to `t`
#
# `w.observe` calls a function whenever `t` changes, whoever changed it: a
# click in the widget, a key press, or Python. Here Python steps in a loop
# and the observer logs each move. Watch the widget above while the cell
# runs: each step is sent to it as soon as it is computed.

# %%
moves = []
w.observe(lambda change: moves.append((change["old"], change["new"])), names="t")
for _ in range(w.T):
    w.step()
    time.sleep(0.1)  # slow enough to watch
print(moves)

# %% [markdown]
# Click **Step back** in the widget, then run the next cell: the observer
# saw your click too. (Front-end messages wait while a cell runs, so clicks
# made during the loop above are handled after it.)

# %%
print("position now:", w.t, "of", w.T)

# %% [markdown]
# ## Watch attention sharpen while a model learns
#
# A fresh, untrained model attends almost uniformly: every weight is close
# to $1/(t+1)$. We open a widget on it, then train with `widget=w2`: every
# 5 steps the training loop sends the model's new attention for this
# sentence to the widget. Watch the shading change while the next cell runs.

# %%
data = agreement(2000, seed=0)
torch.manual_seed(0)
model = TextRNN(data.vocab, 16, 32, update="eq4", align="dot", n_outputs=2)
sentence = "the girls near the lamp that the pilot fixed are ready ."
k = sentence.split().index("fixed") + 1
w2 = AttentionWidget.from_text(model, sentence)
w2.goto(k)
before = w2.current.alpha.clone()
w2


# %%
def entropy(p):
    """How spread out a row of weights is: log(n) when uniform over n, 0 when one-hot."""
    return float(-(p * p.clamp_min(1e-12).log()).sum())


history = train(model, data, epochs=3, batch_size=64, seed=0, progress=False, widget=w2, every=5)
after = w2.current.alpha
uniform = math.log(len(before))  # before holds α_{k-1, 0 … k-1}: k weights
# The exact numbers depend on the CPU (training amplifies the last bits of
# every sum), so the cell prints what it claims, and checks it.
rose = history.accuracy[-1] > history.accuracy[0]
sharper = entropy(after) < entropy(before)
print("training accuracy rose from the first epoch to the last:", rose)
print(f"α at 'fixed' is sharper than before (entropy fell; uniform = {uniform:.2f}):", sharper)
assert rose and sharper

# %% [markdown]
# ## Take the numbers out
#
# `w.trace()` returns every computed step as tensors, like `model(x)`:
# `h` (T+1, H), `c` (T, H) and `alpha` (T, T+1). From there, numpy and
# pandas are one call away.

# %%
w.goto(w.T)
trace = w.trace()
alpha = trace.alpha.numpy()  # (T, T+1): row t is step t, the one that read x_{t+1}
assert (alpha.sum(axis=1).round(6) == 1).all()
print(" " * 9 + "".join(f"{col:>9}" for col in ["⟨start⟩", *w.tokens[:-1]]))
for t, row in enumerate(alpha):
    cells = [f"{a:>9.2f}" if i <= t else f"{'·':>9}" for i, a in enumerate(row[:-1])]
    print(f"{w.tokens[t]:>9}" + "".join(cells))

# %% [markdown]
# Row *t* is the step that read that row's word; its weights cover
# ⟨start⟩ and every word before it, and everything to the right of the
# diagonal (drawn ·) is exactly zero: no step sees the future. This is the
# shipped demo model, so the numbers are the ones the widget at the top of
# this notebook shows.
#
# The same array is one call away from pandas:

# %%
import pandas as pd

table = pd.DataFrame(alpha, index=w.tokens, columns=["⟨start⟩", *w.tokens])
assert (table.to_numpy()[:, -1] == 0).all()  # nobody attends to the last state: it comes later
table.shape

# %% [markdown]
# ## Exercise
#
# Write an observer that prints the word just read each time the demo
# widget `w` moves, whoever moves it. Try it with `w.goto(3)` and
# `w.back()`, then remove it with `w.unobserve`.

# %% [solution]
def announce(change):
    k = change["new"]
    print(f"position {k}:", "nothing read yet" if k == 0 else f"just read {w.tokens[k - 1]!r}")


w.observe(announce, names="t")
w.goto(3)
w.back()
w.unobserve(announce, names="t")
