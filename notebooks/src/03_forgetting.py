# %% [markdown]
# # 3 · Forgetting, cured and measured
#
# **The claim.** A plain SimpleRNN (eq. 1) carries everything it has read in
# one state $h_t$, and each step squashes that state through $\tanh$ again.
# Information from far back fades. Self-attention (eq. 4) lets every step
# look straight back at any earlier state $h_i$, so nothing has to survive
# the trip: the claim is that attention cures the forgetting.
#
# **The test.** Long-range recall. A sequence shows a key (`k0` … `k7`), then
# a run of distractors (`d0` … `d7`), then `?`. At `?` the model must name the
# key. With 8 keys, guessing scores 1/8 = 0.125. The number of distractors,
# the *distance*, is the knob.

# %%
import torch

from attn_widget.tasks import recall
from attn_widget.text import TextRNN
from attn_widget.train import evaluate, train

torch.set_num_threads(1)  # models this small train faster on one thread than on several
example = recall(1, distance=6, seed=3)
print(" ".join(example.tokens[0]), "  →  answer:", example.labels[0])

# %% [markdown]
# ## Train eq. 1 at each distance, and eq. 4 once
#
# Both models have the same size (state $H = 32$) and the same budget: 300
# Adam steps of 64 sequences, the learning rate following a cosine
# schedule down to near zero. Eq. 1 gets its best chance: it trains at the
# very distance it is tested on. Eq. 4 is the library's default model (dot
# align) trained the library's default way: once, at distance 10, and then
# asked at every distance, up to ten times farther than it ever practised.
# Each model is scored on 500 sequences it never saw.

# %%
DISTANCES = [5, 20, 40, 100]
TRAIN_DISTANCE = 10  # eq4 trains here, once
STEPS, BATCH = 300, 64


def trained(update, distance, seed=0):
    data = recall(STEPS * BATCH, distance=distance, seed=seed)
    torch.manual_seed(seed)
    model = TextRNN(data.vocab, 16, 32, update=update, n_outputs=data.n_outputs)
    train(model, data, epochs=1, batch_size=BATCH, schedule="cosine", seed=seed, progress=False)
    return model


# Now and then (benchmarks/results/forgetting_recipes.md has the counts)
# a run of this recipe gets stuck and does not learn even the distance it
# trains at. Such a run says nothing about distance, so it is retried with
# the next seed.
for seed in range(3):
    model4 = trained("eq4", TRAIN_DISTANCE, seed)
    if evaluate(model4, recall(500, distance=TRAIN_DISTANCE, seed=998)) >= 0.9:
        break
models1, accuracy = {}, {}
for distance in DISTANCES:
    test = recall(500, distance=distance, seed=999)
    models1[distance] = trained("eq1", distance)
    accuracy["eq1", distance] = evaluate(models1[distance], test)
    accuracy["eq4", distance] = evaluate(model4, test)

# The digits below depend on the CPU that trained the models (training
# amplifies the last bits of every sum), so nbval does not compare them; the
# next cell states and checks what they show.
# NBVAL_IGNORE_OUTPUT
print(f"eq4 trained at d = {TRAIN_DISTANCE} with seed {seed}")
print(f"{'distance':>8} {'eq1':>6} {'eq4':>6}   (chance 0.125)")
for distance in DISTANCES:
    print(f"{distance:>8} {accuracy['eq1', distance]:>6.2f} {accuracy['eq4', distance]:>6.2f}")

near, far = DISTANCES[0], DISTANCES[1:]
claims = {
    f"eq1 remembers at d = {near} (≥ 0.9)": accuracy["eq1", near] >= 0.9,
    f"eq1 is near chance from d = {far[0]} on (< 0.3)": all(accuracy["eq1", d] < 0.3 for d in far),
    "eq4 remembers at every distance (≥ 0.8)": all(accuracy["eq4", d] >= 0.8 for d in DISTANCES),
}
assert all(claims.values()), accuracy

# %% [markdown]
# The digits above are this machine's: another CPU rounds the last bits of
# its sums differently, training amplifies that, and the table can move in
# its second decimal. What the table shows does not move:

# %%
for claim, holds in claims.items():
    print(f"{claim}: {holds}")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3))
for update, style in (("eq1", "o--"), ("eq4", "s-")):
    ax.plot(DISTANCES, [accuracy[update, d] for d in DISTANCES], style, label=update)
ax.axhline(1 / 8, color="grey", lw=1, ls=":", label="chance")
ax.set(
    xlabel="distance (distractors between key and ?)",
    ylabel="held-out accuracy",
    ylim=(0, 1.05),
    title="Recall after a run of distractors",
)
ax.legend()
plt.show()

# %% [markdown]
# ## Where does each model look, and what does each predict?
#
# Take one test sequence at distance 20 and let both models read it in one
# widget, in lockstep: one set of controls moves both panels. The eq. 4
# panel shades every earlier token by its weight $\alpha$ (hover a token for
# the exact value); eq. 1 has no weights to show, only its state $h_t$, drawn
# as a strip. Each panel also shows what its own output head predicts from
# its state after each token. The widget opens at `?`, the step that must
# answer.

# %%
from attn_widget import compare

seq = recall(1, distance=20, seed=7)
tokens = seq.tokens[0]
titles = ["eq1, trained at d = 20", "eq4 / dot, trained at d = 10"]
both = compare(models1[20], model4, text=tokens, titles=titles, labels=seq.classes)
both.goto(both.T)
w1, w4 = both.panels
key = seq.info["key_pos"][0] + 1  # the key's data-index: tokens count from 1
answer = next(iter(w4.prediction()))
print("key:", tokens[key - 1], "at index", key, "- eq4 answers", answer)
assert answer == tokens[key - 1]

# %%
both

# %% [markdown]
# Step back with ← and watch the two predictions. Right after the key,
# eq. 1's state still holds it; with each distractor its prediction drifts,
# and at `?` it is close to a guess among the eight keys. Eq. 4's weight at
# `?` reaches back over the distractors to the states that hold the key.

# %%
# The probabilities, and where the weight sits, differ from run to run and from
# one CPU to another for the same seed, so nbval ignores this output; the claim
# checked below does not move.
# NBVAL_IGNORE_OUTPUT
on_key = {name: w.prediction(top=8)[tokens[key - 1]] for name, w in (("eq1", w1), ("eq4", w4))}
alpha = w4.current.alpha
print(f"probability of the key at ?: eq1 {on_key['eq1']:.2f}, eq4 {on_key['eq4']:.2f}")
print("eq4: largest weight on index", int(alpha.argmax()), f"= {float(alpha.max()):.2f}")
print(f"eq4: weight on the key's own state h_{key}: {float(alpha[key]):.2f}")
assert on_key["eq4"] > on_key["eq1"]
print("eq4 is surer of the key than eq1:", on_key["eq4"] > on_key["eq1"])

# %% [markdown]
# The model answers right, but *how* it reaches back can differ from one
# training run to another, and even between two CPUs running the same
# seed. Often the weight at `?` sits on $h_{\text{key}}$, the state made
# right after reading the key, and the model reads the answer from it
# through $c_t$, skipping the 20 steps in between. But every state after
# the key took in a context $c$ of its own, so a later state can carry the
# key too, and a run may spread its weight over several: in one run traced
# in `benchmarks/results/forgetting_recipes.md` (additive align, trained at
# distance 40), the weight on the key's state ended at 0.47, and the run's
# held-out accuracy was 1.00. Step back through the widget to see where
# each step looks.
#
# The eq. 1 panel has no weights: all it has is its state strip. Step back
# through the distractors and watch the strip change at every step, slowly
# overwriting what the key left in it.

# %% [markdown]
# ## Why eq. 1 forgets: follow the gradient
#
# How much does the last state $h_T$ still depend on each input $x_i$? The
# size of the derivative $\lVert \partial h_T / \partial x_i \rVert$
# answers that: if it is tiny, no change to $x_i$ can move $h_T$, and no
# training signal can reach $x_i$ from the answer either.
#
# In eq. 1 every path from $x_i$ to $h_T$ runs through the $T - i$ step
# Jacobians $\partial h_{t+1} / \partial h_t = \operatorname{diag}(1 - h_{t+1}^2)\,A_h$,
# and their product shrinks geometrically with the distance. In eq. 4 there
# is also a path from $h_i$ through a context $c_t$ straight into a late
# step, however far back $h_i$ is. `input_sensitivity` computes the norms
# exactly, by autograd, for any model and input. Here it is for eq. 1
# trained at distance 40 and for the eq. 4 model, on a sequence with the key
# 40 steps back.

# %%
from attn_widget import input_sensitivity

seq40 = recall(1, distance=40, seed=7)
tokens40 = seq40.tokens[0]
key40 = seq40.info["key_pos"][0]  # the key is x_{key40 + 1}: entry key40 below
sensitivity = {}
for update in ("eq1", "eq4"):
    model = models1[40] if update == "eq1" else model4
    _, x = model.embed_text(tokens40)
    sensitivity[update] = input_sensitivity(model.rnn, x.detach())  # (T,): one per input

fig, ax = plt.subplots(figsize=(6, 3))
distance = torch.arange(len(tokens40) - 1, -1, -1)  # T − i for x_1 … x_T
for update, style in (("eq1", "o--"), ("eq4", "s-")):
    ax.semilogy(distance, sensitivity[update], style, ms=3, label=update)
ax.axvline(int(distance[key40]), color="grey", lw=1, ls=":", label="the key")
ax.set(xlabel="distance T − i", ylabel="‖∂h_T / ∂x_i‖", title="How much h_T depends on x_i")
ax.legend()
plt.show()

# %%
relative = {u: s / s[-1] for u, s in sensitivity.items()}  # against the input read last
distractors = torch.cat([sensitivity["eq4"][:key40], sensitivity["eq4"][key40 + 1 : -1]])
claims = {
    "eq1's h_T depends on the key less than 1/10 000 as much as on the last input": bool(
        relative["eq1"][key40] < 1e-4
    ),
    "eq4's h_T depends on the key at least 1/100 as much as on the last input": bool(
        relative["eq4"][key40] > 1e-2
    ),
    "eq4's h_T depends on the key more than on the median distractor": bool(
        sensitivity["eq4"][key40] > distractors.median()
    ),
}
for claim, holds in claims.items():
    print(f"{claim}: {holds}")
assert all(claims.values())

# %% [markdown]
# Eq. 1's curve falls by orders of magnitude as the distance grows: by the
# time the key is 40 steps back, $h_T$ has all but stopped depending on it,
# so no amount of training on the answer can teach eq. 1 to keep it. Eq. 4's
# curve stays within a factor of 100 of the last input at the key, and
# peaks there, above the typical distractor (by how much varies from run
# to run): attention gave the gradient a short road.
#
# The same picture holds before any training: at initialisation eq. 1's
# dependence on an input 40 steps back is less than a millionth of its
# dependence on one 5 steps back, while eq. 4's stays within a factor of 100
# (the test suite checks this on three random seeds).

# %% [markdown]
# ## What the lecture claims, and what we measured
#
# The lecture claims that the attention models stay near-perfect as the
# distance grows while eq. 1 falls toward chance. This notebook checks that
# claim on one run; `benchmarks/forgetting.py` checks it over 10 random
# seeds, and `benchmarks/results/forgetting_recipes.md` holds what it
# printed for this recipe and for the ones that work less well. The README's
# forgetting section reads those numbers, and says what a failing run does
# (`benchmarks/forgetting_dynamics.py`).

# %% [markdown]
# ## Exercise
#
# Forgetting is there before any training. Build an untrained eq. 1 and an
# untrained eq. 4 model (`SelfAttentionRNN(16, 32, update=...)`, with
# `torch.manual_seed(0)` first), feed both the same 61 random inputs, and
# compare how much $h_T$ depends on the input 60 steps back with how much it
# depends on the last one.

# %% [solution]
from attn_widget import SelfAttentionRNN

x = torch.randn(61, 16, generator=torch.Generator().manual_seed(0))
for update in ("eq1", "eq4"):
    torch.manual_seed(0)
    untrained = SelfAttentionRNN(16, 32, update=update, align="additive")
    s = input_sensitivity(untrained, x)
    ratio = float(s[0] / s[-1])  # x_1 is 60 steps back from x_61
    print(f"{update}: 60 steps back counts less than a millionth as much: {ratio < 1e-6}")
    assert (ratio < 1e-6) == (update == "eq1")
