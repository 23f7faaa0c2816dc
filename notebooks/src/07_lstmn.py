# %% [markdown]
# # 7 · The LSTMN: the paper's own cell, step by step
#
# Cheng, Dong & Lapata (2016), *Long Short-Term Memory-Networks for Machine
# Reading*, replace an LSTM's single memory with two **tapes** that grow by
# one slot a word: a hidden tape $h_0 \dots h_t$ and a memory tape
# $m_0 \dots m_t$. Before reading word $x_{t+1}$, the cell attends over every
# slot of the tapes, scoring each against the word and its previous summary
# $\tilde h_{t-1}$:
#
# $$a_{t,i} = v^\top \tanh(W_h h_i + W_x x_{t+1} + W_{\tilde h} \tilde h_{t-1}),
# \qquad \alpha_{t,i} = \operatorname{softmax}_i(a_{t,i})$$
#
# $$\tilde h_t = \sum_{i=0}^{t} \alpha_{t,i}\, h_i \qquad
# \tilde m_t = \sum_{i=0}^{t} \alpha_{t,i}\, m_i$$
#
# and then runs the LSTM's gates on those summaries instead of on the last
# state:
#
# $$[i_t; f_t; o_t; \hat c_t] = [\sigma; \sigma; \sigma; \tanh]\,
# (W [\tilde h_t; x_{t+1}] + b) \qquad
# m_{t+1} = f_t \odot \tilde m_t + i_t \odot \hat c_t \qquad
# h_{t+1} = o_t \odot \tanh(m_{t+1})$$
#
# Two departures from the paper, both marked in the widget: the tapes start
# with an all-zero slot $h_0 = m_0 = 0$ (so the first word has a slot to
# attend to), and the gates have a bias $b$, as torch's LSTM does. The paper
# writes the memory cells $c_i$; here they are $m_i$, because $c_t$ names
# the context of the other models.

# %%
import matplotlib.pyplot as plt
import torch

from attn_widget import compare, demo
from attn_widget.demo import demo_model

lstmn = demo_model("agreement", "lstmn")  # shipped with the package: no training here
print(lstmn.metadata["demo_text"], "| held-out accuracy", lstmn.metadata["accuracy"])

# %% [markdown]
# ## Read a sentence with it
#
# The shipped model was trained on subject–verb agreement: after the words
# before the verb it must say whether the verb is *is* (`sg`) or *are*
# (`pl`). The widget opens at the verb's position: the state that has just
# read *liked* and must decide. Its prediction is drawn on the right; the
# panel under it holds the two tapes' summaries $\tilde h$, $\tilde m$, the
# new memory slot $m$ and, under the equations, the gates.

# %%
w = demo("agreement", update="lstmn")
verb = w.t  # the position that decides the verb's number
print("read:", " ".join(w.tokens[:verb]), "| next word:", w.tokens[verb])
print("predicts:", next(iter(w.prediction())))
assert next(iter(w.prediction())) == "sg"  # "the author …" takes "is"

# %%
w

# %% [markdown]
# ## Stepping is the batched run
#
# Each step the widget shows is a record the stepper kept: the scores
# $a_{t,i}$, the weights, the summaries, the gates, $\hat c_t$, $m_{t+1}$
# and $h_{t+1}$, the very tensors the step used. Running the whole sentence
# at once gives the same numbers, and the records satisfy the paper's
# equations to the last bits of float32 (recomputing an equation here is a
# second computation, which may round differently on another CPU).

# %%
tokens, x = lstmn.embed_text(lstmn.metadata["demo_text"])
with torch.no_grad():
    batched = lstmn.rnn(x)
stepped = w.stepper.trace()
n = stepped.h.shape[0]
gap = max(
    float((stepped.h - batched.h[:n]).abs().max()),
    float((stepped.m - batched.m[:n]).abs().max()),
    float((stepped.alpha - batched.alpha[: n - 1, :n]).abs().max()),
)
s = w.current  # the step that read the word before the verb


def close(a, b):  # equal to float32 rounding
    return torch.allclose(a, b, rtol=1e-6, atol=1e-7)


equations = {
    "stepping equals the batched run (max |difference| < 1e-6)": gap < 1e-6,
    "α is the softmax of the scores": close(s.alpha, torch.softmax(s.scores, 0)),
    "m = f ⊙ m̃ + i ⊙ ĉ": close(s.m, s.f * s.m_tilde + s.i * s.c_hat),
    "h = o ⊙ tanh(m)": close(s.h, s.o * torch.tanh(s.m)),
    "the gates lie in (0, 1)": all(bool(((g > 0) & (g < 1)).all()) for g in (s.i, s.f, s.o)),
}
for claim, holds in equations.items():
    print(f"{claim}: {holds}")
assert all(equations.values())

# %% [markdown]
# ## The paper's Figure 1: reading, word by word
#
# The paper's first figure shows the cell reading a sentence: at each word
# (red), the earlier words are shaded by how much the cell attends to them.
# Here is the same picture for our sentence, one row per step, drawn from
# the widget's records. Row $t$ reads the word in red; each earlier word is
# shaded by $\alpha_{t,i}$ on the slot $h_i$ that word wrote ("⟨start⟩" is
# $h_0$).

# %%
def reading_figure(widget, title):
    rows = widget.T
    labels = ["⟨start⟩", *widget.tokens]
    fig, ax = plt.subplots(figsize=(1.0 + 0.85 * len(labels), 0.36 * rows + 0.6))
    widget.stepper.compute(rows)
    for t, step in enumerate(widget.stepper.steps):
        y = rows - 1 - t
        for i, label in enumerate(labels):
            if i <= t:  # a slot written before step t: shaded by its weight
                face = plt.cm.Blues(0.15 + 0.85 * float(step.alpha[i]))
                colour = "white" if float(step.alpha[i]) > 0.5 else "black"
            elif i == t + 1:  # the word this step reads
                face, colour = "#d62728", "white"
            else:
                face, colour = "none", "lightgrey"
            box = {"boxstyle": "round,pad=0.25", "fc": face, "ec": "none"}
            ax.text(i, y, label, ha="center", va="center", color=colour, fontsize=9, bbox=box)
    ax.set(xlim=(-0.6, len(labels) - 0.4), ylim=(-0.6, rows - 0.4), title=title)
    ax.axis("off")
    return fig


fig = reading_figure(w, "LSTMN reading: the word in red, earlier words shaded by α")
plt.show()

# %% [markdown]
# From *that* on, the largest weight goes to *author*, the subject: the word
# whose number the verb must match, four words back by the time the verb
# comes. Nothing forces the cell to look there (its memory tape could carry
# the number forward through the gates), but the shipped model does:

# %%
subject = w.tokens.index("author") + 1  # its slot: h_0 is ⟨start⟩
at_verb = w.stepper.steps[verb - 1].alpha  # the step that read "liked"
print("largest weight at the verb's step:", ["⟨start⟩", *w.tokens][int(at_verb.argmax())])
assert int(at_verb.argmax()) == subject

# %% [markdown]
# ## A step as a figure, for a paper or slides
#
# `w.figure()` draws what the widget shows at its position with matplotlib,
# in the widget's own colour scales: the tokens with the current one in red
# and the earlier ones shaded by $\alpha$, the weights of every step so far,
# and the state strips. `fig.savefig("step.svg")` writes it out.

# %%
fig = w.figure()  # the verb's step: the widget's position
fig

# %% [markdown]
# ## Next to eq. 4
#
# Both models read the sentence in one widget, in lockstep: one set of
# controls, one panel each, each with its own weights and its own
# prediction.

# %%
both = compare(demo_model("agreement", "eq4"), lstmn, text=lstmn.metadata["demo_text"])
both.goto(verb)
answers = [next(iter(panel.prediction())) for panel in both.panels]
print("at the verb, eq4 predicts", answers[0], "and the LSTMN", answers[1])
assert answers == ["sg", "sg"]

# %%
both

# %% [markdown]
# ## Exercise
#
# Read a sentence of your own with the LSTMN, say *the keys near the
# cabinet are lost .*, and check that at the verb it predicts `pl`. Which
# word does the step before the verb weight most? (`demo(..., text=...)`
# opens at the end of the text; use `goto`.)

# %% [solution]
# Which word wins the weight can change with the last bits of a CPU's sums.
# NBVAL_IGNORE_OUTPUT
mine = demo("agreement", update="lstmn", text="the keys near the cabinet are lost .")
verb = mine.tokens.index("are")
mine.goto(verb)
print("predicts:", next(iter(mine.prediction())))
assert next(iter(mine.prediction())) == "pl"
step = mine.current
print("largest weight on:", (["⟨start⟩", *mine.tokens])[int(step.alpha.argmax())])
