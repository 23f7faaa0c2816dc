# %% [markdown]
# # 4 · Three ways to score the past
#
# Every attention step scores each earlier state $h_i$ against the current
# one $h_t$, and turns the scores into weights with a softmax. The *align
# function* is the scoring rule. attn_widget has three:
#
# | name | $\text{score}(h_i, h_t)$ | parameters |
# |---|---|---|
# | `additive` (Bahdanau) | $v^\top \tanh(W\,[h_i; h_t])$ | $W$: $d \times 2H$, $v$: $d$ |
# | `dot` (query/key) | $(W_K h_i)\cdot(W_Q h_t)$ | $W_K, W_Q$: $d \times H$ |
# | `scaled_dot` | $(W_K h_i)\cdot(W_Q h_t)\,/\,\sqrt{d}$ | the same |
#
# We train one eq. 4 model with each on the agreement task (is the verb *is*
# or *are*?) and compare where each one looks on the same sentence.

# %%
import torch

from attn_widget import AttentionWidget
from attn_widget.tasks import agreement
from attn_widget.text import TextRNN
from attn_widget.train import evaluate, train

torch.set_num_threads(1)  # the same arithmetic on every machine, so the numbers below repeat
data = agreement(3000, seed=0)
test = agreement(500, seed=1)
ALIGNS = ("additive", "dot", "scaled_dot")

models = {}
for align in ALIGNS:
    torch.manual_seed(0)
    models[align] = TextRNN(data.vocab, 16, 32, update="eq4", align=align, n_outputs=2)
    train(models[align], data, epochs=2, batch_size=64, lr=1e-2, seed=0, progress=False)
    print(f"{align:>10}: held-out accuracy {evaluate(models[align], test):.2f}")

# %% [markdown]
# ## The same sentence, three attention patterns
#
# The subject is *keys* (plural); *cabinet* is a singular noun in between
# that tempts a careless reader toward *is*. We stop at the step that has
# read *found*, the last word before the verb: its new state must carry the
# subject's number.

# %%
sentence = "the keys near the cabinet that the farmer found are rusty ."
tokens = sentence.split()
k = tokens.index("found") + 1  # position after reading "found"

print(f"{'':>10}  " + " ".join(f"{tok:>8}" for tok in ["⟨start⟩", *tokens[:k]]))
for align in ALIGNS:
    _, stepper = models[align].stepper(tokens)
    alpha = stepper.goto(k).alpha
    print(f"{align:>10}  " + " ".join(f"{a:>8.2f}" for a in alpha.tolist()))

# %% [markdown]
# Read each row as "how much of each earlier state went into $c_t$". Things
# to notice:
#
# - the weights need not sit on the subject word's column to carry it: the
#   state $h_i$ made after reading a word also remembers what came before
#   it, so weight on any state after *keys* can carry its number;
# - scaling by $\sqrt{d}$ changes only the temperature of the softmax at
#   the start of training, yet the trained patterns can differ, because the
#   two models followed different paths while learning.
#
# Below, the three widgets on that sentence, at the same step.

# %%
widgets = {}
for align in ALIGNS:
    widgets[align] = AttentionWidget.from_text(models[align], tokens)
    widgets[align].goto(k)
widgets["additive"]

# %%
widgets["dot"]

# %%
widgets["scaled_dot"]

# %% [markdown]
# ## What each costs
#
# Keys are computed once per state and cached, so step $t$ pays for one query
# and $t+1$ scores. A dot score is one multiply-add per key entry; an
# additive score adds a $\tanh$ over a $(t+1) \times d$ matrix and a product
# with $v$. Parameters first:

# %%
for align in ALIGNS:
    n = sum(p.numel() for p in models[align].rnn.align.parameters())
    print(f"{align:>10}: {n} parameters in the align function")

# %% [markdown]
# And the time per step at $t = 500$, $H = 128$, measured on this machine.
# (Times differ between machines and runs, so this cell's output is not
# compared when the notebook is tested.)

# %%
# Timings vary from run to run and machine to machine, so nbval ignores this output:
# NBVAL_IGNORE_OUTPUT
import time

from attn_widget import SelfAttentionRNN

x = torch.randn(520, 64)
for align in ALIGNS:
    stepper = SelfAttentionRNN(64, 128, update="eq4", align=align).stepper(x)
    stepper.goto(500)
    start = time.perf_counter()
    for _ in range(20):
        stepper.step()
    print(f"{align:>10}: {(time.perf_counter() - start) / 20 * 1e6:.0f} µs per step at t = 500")
