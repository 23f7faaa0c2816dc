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
# ## Eq. 1: the plain SimpleRNN
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
# Eq. 1 sees the past only through $h_t$. Everything the network read must
# be squeezed into those three numbers, and each step overwrites them a
# little more: that is the forgetting attention is meant to cure.
#
# ## The weights $\alpha_{t,i}$
#
# With attention, step $t$ first looks back over **all** the states so far,
# $h_0$ and $h_t$ included, and scores each one against $h_t$. With the dot
# align function,
#
# $$\text{score}_{t,i} = (W_K h_i)\cdot(W_Q h_t), \qquad
# \alpha_{t,i} = \operatorname{softmax}_i(\text{score}_{t,i}), \quad i = 0 \dots t.$$
#
# We take an eq. 4 model and run three steps; the last one, step 2, reads
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
# Notice that $h_0 = 0$ always scores exactly 0, whatever the query: it is
# the "attend to nothing" slot. And step 0 has only $h_0$ to look at, so
# $\alpha_{0,0} = 1$.
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
print("c_0 =", steps[0].c.numpy(), "(h_0 = 0, so c_0 = 0)")

# %% [markdown]
# ## Eq. 3 and eq. 4
#
# The context joins the update. Eq. 3 replaces the state by the context,
# eq. 4 keeps both:
#
# $$\text{eq. 3:}\quad h_{t+1} = \tanh(A\,[x_{t+1}; c_t] + b) \qquad
# \text{eq. 4:}\quad h_{t+1} = \tanh(A\,[h_t; x_{t+1}; c_t] + b)$$
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
# ## The same numbers, in the widget
#
# The widget below runs the same eq. 4 model. It is at position 3: it has
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
# ## Exercise
#
# Step 3 reads "down" and attends over $h_0 \dots h_3$. Compute its weights
# $\alpha_{3,0..3}$ with numpy from `W_q`, `W_k` and the states, as above,
# and check them against the model's step record.

# %% [solution]
step3 = stepper.step()  # the eq. 4 stepper above has run steps 0, 1, 2
states4 = np.stack([np.zeros(3)] + [s.h.numpy() for s in [*steps, step3][:3]])  # h_0 … h_3
scores3 = (states4 @ W_k.T) @ (W_q @ states4[3])
alpha3 = np.exp(scores3) / np.exp(scores3).sum()
assert np.allclose(step3.alpha.numpy(), alpha3, rtol=0, atol=1e-12)
print("α_{3,0..3} =", step3.alpha.numpy(), "  numpy:", alpha3)
