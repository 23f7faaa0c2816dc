# %% [markdown]
# # 5 · Driving the widget from Python
#
# The widget and the kernel share one position, `w.t`. This notebook uses
# that link the other way round: Python moves the widget, listens to it,
# pushes training progress into it, and takes its numbers out again.

# %%
import time

import torch

from attn_widget import AttentionWidget, demo
from attn_widget.tasks import agreement
from attn_widget.text import TextRNN
from attn_widget.train import train

torch.set_num_threads(1)  # the same arithmetic on every machine, so the numbers below repeat
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
    """How spread out a row of weights is: log(t+1) when uniform, 0 when one-hot."""
    return float(-(p * p.clamp_min(1e-12).log()).sum())


history = train(model, data, epochs=3, batch_size=64, seed=0, progress=False, widget=w2, every=5)
after = w2.current.alpha
print("accuracy per epoch:", [round(a, 2) for a in history.accuracy])
print(
    f"entropy of α at 'fixed': before {entropy(before):.2f}, after {entropy(after):.2f}"
    f"  (uniform over {k + 1} states: {torch.log(torch.tensor(k + 1.0)):.2f})"
)

# %% [markdown]
# ## Take the numbers out
#
# `w.trace()` returns every computed step as tensors, like `model(x)`:
# `h` (T+1, H), `c` (T, H) and `alpha` (T, T+1). From there, numpy and
# pandas are one call away.

# %%
import pandas as pd

w2.goto(w2.T)
trace = w2.trace()
alpha = trace.alpha.numpy()
table = pd.DataFrame(alpha, index=w2.tokens, columns=["⟨start⟩", *w2.tokens])
table.round(2)

# %% [markdown]
# Row *t* is the step that read that row's word; its weights cover
# ⟨start⟩ and every word up to and including the one before it, and the
# upper triangle is exactly zero: no step sees the future.
