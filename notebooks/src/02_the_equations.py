# %% [markdown]
# # 2 · The equations, one number at a time
#
# This notebook builds the model up piece by piece on a toy you can check by
# hand: three-dimensional inputs, a three-dimensional state, four tokens.
# At each piece we print the numbers the model computed and recompute them
# with a few lines of plain numpy. If the two ever disagreed by more than
# $10^{-12}$, the cell would fail. The toy computes in float64, so every digit
# printed here is the same on any machine.
#
# Notation: inputs $x_1 \dots x_T$, states $h_0 \dots h_T$ with $h_0 = 0$.
# Step $t$ reads $x_{t+1}$ and produces $h_{t+1}$.
#
# The lecture numbers its equations (1) to (4), and so does this notebook:
#
# | lecture | equation | in the package |
# |---|---|---|
# | (1) | $h_{t+1} = \tanh(A\,[h_t; x_{t+1}] + b)$ | `update="eq1"`, the plain SimpleRNN (no attention) |
# | (2) | $\alpha_{ti} = \operatorname{align}(h_i, h_t)$, normalised by a softmax over $i = 0 \dots t$ | every rule with attention: `step.alpha`, `trace.alpha[t, i]` |
# | (3) | $h_{t+1} = \tanh(A\,[x_{t+1}; c_t] + b)$ | `update="eq3"` |
# | (4) | $h_{t+1} = \tanh(A\,[h_t; x_{t+1}; c_t] + b)$ | `update="eq4"` (the default) |
#
# with the context $c_t = \sum_{i=0}^{t} \alpha_{ti}\, h_i$ between (2) and
# (3). The lecture also draws two figures, redrawn below: the chain of states
# and contexts, and a sentence read from left to right.

# %%
import numpy as np
import torch

from attn_widget import AttentionWidget, SelfAttentionRNN

np.set_printoptions(precision=4, suppress=True)
tokens = ["the", "cat", "sat", "down"]
x = torch.tensor(
    [
        [1.0, 0.0, 0.5],  # x_1 = "the"
        [0.0, 1.0, -0.5],  # x_2 = "cat"
        [-1.0, 0.5, 0.0],  # x_3 = "sat"
        [0.5, -1.0, 1.0],  # x_4 = "down"
    ],
    dtype=torch.float64,
)
x_np = x.numpy()

# %% [markdown]
# ## Eq. (1): the plain SimpleRNN
#
# $$h_{t+1} = \tanh(A\,[h_t; x_{t+1}] + b)$$
#
# $A$ is a $3 \times 6$ matrix: its first three columns see $h_t$, the last
# three see $x_{t+1}$. We run step 0 (it reads "the") and look at every piece
# the step record keeps: the concatenation $z$, the pre-activation $A z + b$
# and the new state.

# %%
torch.manual_seed(0)
rnn = SelfAttentionRNN(3, 3, update="eq1").double()
A, b = rnn.A.weight.detach().numpy(), rnn.A.bias.detach().numpy()

stepper = rnn.stepper(x)
step = stepper.step()
print("z = [h_0; x_1] =", step.z.numpy())
print("A z + b        =", step.pre.numpy())
print("h_1 = tanh(…)  =", step.h.numpy())

h0 = np.zeros(3)
h1 = np.tanh(A @ np.concatenate([h0, x_np[0]]) + b)
assert np.allclose(step.h.numpy(), h1, rtol=0, atol=1e-12)
print("numpy agrees:  ", h1)

# %% [markdown]
# Eq. (1) sees the past only through $h_t$. Everything the network read must
# be squeezed into those three numbers, and each step overwrites them a
# little more: that is the forgetting attention is meant to cure.
#
# ## Eq. (2): the weights $\alpha_{t,i}$
#
# With attention, step $t$ first looks back over **all** the states so far,
# $h_0$ and $h_t$ included, and scores each one against $h_t$: the lecture's
# $\alpha_{ti} = \operatorname{align}(h_i, h_t)$, made into weights that sum
# to 1 by a softmax over $i = 0 \dots t$. With the dot align function,
#
# $$\text{score}_{t,i} = \operatorname{align}(h_i, h_t) = (W_K h_i)\cdot(W_Q h_t), \qquad
# \alpha_{t,i} = \operatorname{softmax}_i(\text{score}_{t,i}), \quad i = 0 \dots t.$$
#
# We take an eq. (4) model and run three steps; the last one, step 2, reads
# "sat" and attends over $h_0, h_1, h_2$.

# %%
torch.manual_seed(1)
model = SelfAttentionRNN(3, 3, update="eq4", align="dot").double()
with torch.no_grad():  # larger weights make the weights α easier to tell apart
    model.align.W_q.weight.mul_(3)
    model.align.W_k.weight.mul_(3)

stepper = model.stepper(x)
steps = [stepper.step() for _ in range(3)]
step = steps[2]
print("scores of step 2:", step.scores.numpy())
print("α_{2,0..2}       :", step.alpha.numpy(), " sum =", round(step.alpha.sum().item(), 6))

W_q = model.align.W_q.weight.detach().numpy()
W_k = model.align.W_k.weight.detach().numpy()
states = np.stack([np.zeros(3)] + [s.h.numpy() for s in steps[:2]])  # h_0, h_1, h_2
scores = (states @ W_k.T) @ (W_q @ states[2])
alpha = np.exp(scores) / np.exp(scores).sum()
assert np.allclose(step.alpha.numpy(), alpha, rtol=0, atol=1e-12)
print("numpy agrees     :", alpha)

# %% [markdown]
# Notice that $h_0 = 0$ always scores exactly 0 with the dot align, whatever
# the query. Why it is in the sum at all, and why $h_t$ is, comes after the
# update rules.
#
# ## The context $c_t$
#
# $$c_t = \sum_{i=0}^{t} \alpha_{t,i}\, h_i$$
#
# a weighted average of the states, with the weights we just computed.

# %%
print("c_2 =", step.c.numpy())
c2 = alpha @ states
assert np.allclose(step.c.numpy(), c2, rtol=0, atol=1e-12)
print("numpy agrees:", c2)

# %% [markdown]
# ## Eq. (3) and eq. (4)
#
# The context joins the update. Eq. (3) replaces the state by the context,
# eq. (4) keeps both:
#
# $$\text{(3):}\quad h_{t+1} = \tanh(A\,[x_{t+1}; c_t] + b) \qquad
# \text{(4):}\quad h_{t+1} = \tanh(A\,[h_t; x_{t+1}; c_t] + b)$$
#
# The order inside the brackets matters: it decides which columns of $A$ see
# what. `model.z_layout` spells it out.

# %%
print("eq4 layout:", model.z_layout)
A, b = model.A.weight.detach().numpy(), model.A.bias.detach().numpy()
z = np.concatenate([states[2], x_np[2], c2])
h3 = np.tanh(A @ z + b)
assert np.allclose(step.z.numpy(), z, rtol=0, atol=1e-12)
assert np.allclose(step.h.numpy(), h3, rtol=0, atol=1e-12)
print("eq4: h_3 =", step.h.numpy(), "  numpy:", h3)

torch.manual_seed(2)
eq3 = SelfAttentionRNN(3, 3, update="eq3", align="dot").double()
print("eq3 layout:", eq3.z_layout)
s3 = eq3.stepper(x)
for _ in range(3):
    step3 = s3.step()
A3, b3 = eq3.A.weight.detach().numpy(), eq3.A.bias.detach().numpy()
h3_eq3 = np.tanh(A3 @ np.concatenate([x_np[2], step3.c.numpy()]) + b3)
assert np.allclose(step3.h.numpy(), h3_eq3, rtol=0, atol=1e-12)
print("eq3: h_3 =", step3.h.numpy(), "  numpy:", h3_eq3)

# %% [markdown]
# ## The lecture's first figure: the chain $h_0 \to c_0 \to h_1 \to c_1 \to \dots$
#
# Which state feeds which context, and which context feeds which update.
# Context $c_t$ is made from every state so far, $h_0 \dots h_t$ (the arcs
# above the chain, as thick as the weight $\alpha_{t,i}$ this model gives
# them); update $t$ then makes $h_{t+1}$ from the pieces its $z$ holds (the
# arrows into each $h$): for eq. (4), $h_t$, $x_{t+1}$ and $c_t$. The arrows
# are read off the model itself: the arcs from the step records' $\alpha$,
# the arrows into $h_{t+1}$ from `model.z_layout`. With eq. (3)'s layout,
# `[x; c]`, the arrow $h_t \to h_{t+1}$ would be missing: its only road
# from one state to the next is through $c_t$.

# %%
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch


def chain_figure(model, steps, n):
    """h_0, c_0, h_1, …, c_{n-1}, h_n in a row, x_1 … x_n below their updates."""
    fed_by = [name for name, _ in model.z_layout]  # what update t reads: h (= h_t), x, c
    place = {f"h{t}": (2 * t, 0) for t in range(n + 1)}
    place |= {f"c{t}": (2 * t + 1, 0) for t in range(n)}
    place |= {f"x{t + 1}": (2 * t + 2, -1.4) for t in range(n)}
    fig, ax = plt.subplots(figsize=(1.3 * (2 * n + 1), 3.6))

    def arrow(a, b, rad=0.0, width=1.2, colour="black", style="-|>"):
        ax.add_patch(
            FancyArrowPatch(
                place[a],
                place[b],
                connectionstyle=f"arc3,rad={rad}",
                arrowstyle=style,
                mutation_scale=12,
                lw=width,
                color=colour,
                shrinkA=14,
                shrinkB=14,
            )
        )

    for t in range(n):
        for i in range(t + 1):  # c_t reads h_0 … h_t, each with its weight α_{t,i}
            alpha = float(steps[t].alpha[i])
            arrow(
                f"h{i}",
                f"c{t}",
                rad=-0.5 if i < t else 0.0,  # the arcs above the chain
                width=0.4 + 4 * alpha,
                colour="#756bb1",
            )
        sources = {"h": f"h{t}", "x": f"x{t + 1}", "c": f"c{t}"}
        for name in fed_by:
            rad = 0.4 if name == "h" else 0.0  # h_t -> h_{t+1} passes below c_t
            arrow(sources[name], f"h{t + 1}", rad=rad)
    for label, (u, v) in place.items():
        name, index = label[0], label[1:]
        colour = {"h": "#fdb863", "c": "#b2abd2", "x": "#dddddd"}[name]
        ax.text(
            u,
            v,
            f"${name}_{{{index}}}$",
            ha="center",
            va="center",
            fontsize=13,
            bbox={"boxstyle": "circle,pad=0.3", "fc": colour, "ec": "black"},
        )
    ax.set(xlim=(-0.7, 2 * n + 0.7), ylim=(-1.8, 1.5 + 0.25 * n))
    ax.set_title(
        r"purple: $h_i$ feeds $c_t$ (width: $\alpha_{t,i}$);  black: what update $t$ reads"
    )
    ax.axis("off")
    return fig


print("eq4 update reads:", [name for name, _ in model.z_layout])
print("eq3 update reads:", [name for name, _ in eq3.z_layout])
fig = chain_figure(model, steps, 3)
plt.show()

# %% [markdown]
# ## Why the softmax runs over $i = 0 \dots t$
#
# The sum in eq. (2) includes two slots one might leave out.
#
# - **$h_0$, the zero state.** Step 0 must have something to read: without
#   $h_0$ its softmax would run over nothing. With it, $\alpha_{0,0} = 1$
#   and **$c_0 = 1 \cdot h_0 = 0$**, so step 0 is eq. (1)'s step with a zero
#   context. At every later step $h_0$ is a "read nothing" slot: it adds
#   nothing to $c_t$, so the weight it takes scales the context down,
#   $c_t = (1 - \alpha_{t,0}) \cdot \bar c_t$, where $\bar c_t$ is the
#   weighted average over $h_1 \dots h_t$ alone.
# - **$h_t$, the state the weights are chosen from.** It is the latest thing
#   read, and the step may want it. For eq. (3), whose update has no $h_t$ of
#   its own, the weight on $h_t$ is the only road from one state to the next.
#
# Together they fix **$c_1$**: step 1 has just two slots, $h_0 = 0$ and
# $h_1$, so $c_1 = \alpha_{1,1}\, h_1$, a shrunken copy of $h_1$, with
# $\alpha_{1,1} = 1 / (1 + e^{-\text{score}_{1,1}})$ (the score of $h_0$
# being 0). Attention has nothing older to offer until step 2. The step
# records say so, to $10^{-12}$:

# %%
s0, s1, s2 = steps
a11 = float(s1.alpha[1])
without_h0 = s2.alpha[1:] / s2.alpha[1:].sum()  # the softmax over h_1, h_2 alone
c2_bar = without_h0.numpy() @ states[1:]
claims = {
    "step 0 reads h_0 alone: α_{0,0} = 1": s0.alpha.tolist() == [1.0],
    "c_0 = 0": bool((s0.c == 0).all()),
    "the dot score of h_0 is 0 at every step": all(float(s.scores[0]) == 0.0 for s in steps),
    "α_{1,1} = 1 / (1 + exp(-score_{1,1}))": abs(a11 - 1 / (1 + np.exp(-float(s1.scores[1]))))
    < 1e-12,
    "c_1 = α_{1,1} h_1": np.allclose(s1.c.numpy(), a11 * states[1], rtol=0, atol=1e-12),
    "c_2 = (1 - α_{2,0}) × the average over h_1, h_2": np.allclose(
        s2.c.numpy(), (1 - float(s2.alpha[0])) * c2_bar, rtol=0, atol=1e-12
    ),
}
for claim, holds in claims.items():
    print(f"{claim}: {holds}")
assert all(claims.values())
print("α_{1,·} =", s1.alpha.numpy(), " c_1 =", s1.c.numpy(), " h_1 =", states[1])

# %% [markdown]
# ## The same numbers, in the widget
#
# The widget below runs the same eq. (4) model. It is at position 3: it has
# read "the cat sat", so "sat" is red and the shading of ⟨start⟩, "the" and
# "cat" is $\alpha_{2,0}, \alpha_{2,1}, \alpha_{2,2}$, the three numbers
# printed above (hover a token to read its exact weight). Under the equation,
# the strips show $z = [h_2; x_3; c_2]$, $A z + b$ and $h_3$.
#
# Step forward and back with the buttons or the arrow keys, and compare.

# %%
w = AttentionWidget(model, tokens=tokens, inputs=x)
w.goto(3)
w

# %% [markdown]
# ## The lecture's second figure: a sentence read from left to right
#
# The lecture draws the reading as the widget does: the word being read in
# red, every earlier word shaded by its weight. `w.figure()` draws the
# widget's position as a figure: the tokens at the top ("sat" in red,
# ⟨start⟩, "the" and "cat" shaded by $\alpha_{2,0..2}$), and below them one
# row per step so far, labelled by the word the step read: the row of
# "sat" is step 2, $\alpha_{2,0..2}$, the weights $h_2$ chose before
# reading "sat". The same numbers as above.

# %%
fig = w.figure(strips=False)
fig

# %% [markdown]
# ## Exercise
#
# Step 3 reads "down" and attends over $h_0 \dots h_3$. Compute its weights
# $\alpha_{3,0..3}$ with numpy from `W_q`, `W_k` and the states, as above,
# and check them against the model's step record.

# %% [solution]
step3 = stepper.step()  # the eq. (4) stepper above has run steps 0, 1, 2
states4 = np.stack([np.zeros(3)] + [s.h.numpy() for s in [*steps, step3][:3]])  # h_0 … h_3
scores3 = (states4 @ W_k.T) @ (W_q @ states4[3])
alpha3 = np.exp(scores3) / np.exp(scores3).sum()
assert np.allclose(step3.alpha.numpy(), alpha3, rtol=0, atol=1e-12)
print("α_{3,0..3} =", step3.alpha.numpy(), "  numpy:", alpha3)
