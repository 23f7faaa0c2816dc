# %% [markdown]
# # 6 · Your own text
#
# Everything so far used tasks built into the package. Here you bring the
# text: tokenize it, train a small language model on it, step through a
# sentence, and ask *what if the next word were different?*
#
# The cell below uses a few paragraphs shipped with the package, written
# for it. Replace `text` with anything you like; a few hundred words train
# in seconds.

# %%
import math

import torch

from attn_widget import AttentionWidget
from attn_widget.tasks import LIGHTHOUSE, language_model
from attn_widget.text import TextRNN, char_tokenize, word_tokenize
from attn_widget.train import train

torch.set_num_threads(1)  # models this small train faster on one thread than on several
text = LIGHTHOUSE
print(text[:200], "…")

# %% [markdown]
# ## Tokens
#
# A tokenizer cuts text into the units the model reads. Words are short
# sequences with a large vocabulary; characters are long sequences with a
# small one.

# %%
print(word_tokenize("Mara kept the light on Gull Rock."))
print(char_tokenize("Mara kept")[:9])
data = language_model(text, tokenizer="word", seq_len=16, stride=4)
print(data)

# %% [markdown]
# ## Train a small language model
#
# At every position the model predicts the next word. `data` holds windows
# of 16 words; the model sees each window many times, so on a text this
# small it learns it nearly by heart, which is fine for looking inside.

# %%
torch.manual_seed(0)
model = TextRNN(data.vocab, 24, 48, update="eq4", align="dot", n_outputs=len(data.vocab))
history = train(model, data, epochs=40, batch_size=16, lr=1e-2, seed=0, progress=False)
uniform = math.log(len(data.vocab))  # the loss of a model that guesses every word equally
# A trained model's digits depend on the CPU it trained on; the claims do not.
print(f"first epoch's loss near uniform guessing ({uniform:.2f}):", history.loss[0] > uniform - 0.5)
print("last epoch's loss below 0.5:", history.loss[-1] < 0.5)
print("next-word accuracy in the last epoch ≥ 0.9:", history.accuracy[-1] >= 0.9)
assert history.loss[0] > uniform - 0.5 and history.loss[-1] < 0.5 and history.accuracy[-1] >= 0.9

# %% [markdown]
# ## Step through a sentence
#
# At each step, the model's guess for the next word comes from $h_{t+1}$.
# The sentence is one of the text's own, so a model that has learnt the text
# continues it where the text leaves no choice: after *was*, *older* and
# *than*, and after *keeper*. After *the* many words follow in the text, so
# those guesses can go either way from one training run to another.

# %%
# Which word a trained model guesses where the text leaves a choice differs
# from one CPU to another, so nbval ignores this output; the cell checks the
# guesses that the text decides.
# NBVAL_IGNORE_OUTPUT
sentence = "the lamp was older than the keeper"
w = AttentionWidget.from_text(model, sentence)
text_next = [*w.tokens[1:], "."]  # the word that follows each one in the text
guesses = []
for k in range(1, w.T + 1):
    step = w.goto(k)
    guesses.append(model.vocab.itos[int(model.out(step.h).argmax())])
    mark = "✓" if guesses[-1] == text_next[k - 1] else " "
    print(f"read {w.tokens[k - 1]!r:>10} → guesses {guesses[-1]!r:<9} {mark}")
decided = [2, 3, 4, 6]  # after "was", "older", "than" and "keeper"
assert [guesses[i] for i in decided] == [text_next[i] for i in decided], guesses
w.goto(2)
w

# %% [markdown]
# ## What if the next word were different?
#
# A step's weights depend only on the states it has already made, so
# changing a *later* word cannot change them; it changes every step after
# it. We open a second widget on the same sentence, swap the third word,
# "was", for "kept", and compare the weights of the step that reads the
# word after it, "older".
#
# In the widget, press the pencil (or double-click a word, or press E) and
# pick the new word from the model's vocabulary; ↶ undoes it. From Python
# the same edit is `replace(i, word)`, and `undo()` takes it back.

# %%
what_if = AttentionWidget.from_text(model, sentence)
before = what_if.goto(4).alpha.clone()  # step 3 reads "older" after "was"
what_if.replace(3, "kept")  # x_3 := "kept"; later steps are recomputed
after = what_if.goto(4).alpha
print("tokens now:", what_if.tokens)
print("edits:", what_if.edits)
changed = not torch.allclose(before, after, atol=1e-6)
unchanged = all(  # the same steps computed twice, on the same words: bit for bit
    torch.equal(what_if.stepper.steps[t].alpha, w.stepper.steps[t].alpha) for t in range(3)
)
print("α at 'older' changed by the edit:", changed)
print("α of steps 0-2 unchanged (computed before x_3 is read):", unchanged)
assert changed and unchanged
what_if

# %% [markdown]
# Step back and forth in both widgets: before position 3 they agree to the
# last digit; from there on they part ways.

# %% [markdown]
# ## A sentence of your own, and words the model never saw
#
# Type a sentence into the widget's text box and press Enter: the kernel
# splits it with the model's own tokenizer and reads it with its
# vocabulary. A word the text never used has no embedding of its own: the
# model reads `<unk>` there, and the widget shows `<unk>`, outlined, with
# the word you typed in its tooltip. From Python the same is `read_text`.

# %%
yours = AttentionWidget.from_text(model, sentence)
yours.read_text("The keeper saw a zebra")  # what the text box does
print("tokens:", yours.tokens)
print("read as <unk>:", yours.unknown)
assert yours.tokens == ["the", "keeper", "<unk>", "a", "<unk>"]
assert yours.unknown == [[3, "saw"], [5, "zebra"]]
yours

# %% [markdown]
# ## Share it
#
# `save_html` writes the widget as one HTML file that steps, plays and
# scrubs in any browser, with no kernel and no network: for a course page
# or slides.

# %%
import pathlib
import tempfile

page = pathlib.Path(tempfile.mkdtemp()) / "lamp.html"
written = w.save_html(page, title="the lamp was older than the keeper")  # returns the path
print(written.name, "written:", written.is_file(), "· all steps:", w.stepper.frontier == w.T)
assert written == page

# %% [markdown]
# ## Exercise
#
# Swap the last word, *keeper*, for *lamp* in the `what_if` widget. Which
# steps' weights can change? Check your answer on the step records.

# %% [solution]
what_if.goto(what_if.T)  # compute every step first
before_edit = [s.alpha.clone() for s in what_if.stepper.steps[: what_if.T]]
what_if.replace(7, "lamp")  # x_7 is read by the last step, step 6
what_if.goto(what_if.T)
after_edit = [s.alpha for s in what_if.stepper.steps[: what_if.T]]
# bit for bit: steps 0-5 are kept, and step 6 runs again on the same h_0 … h_6
same = [torch.equal(a, b) for a, b in zip(before_edit, after_edit, strict=True)]
print("weights unchanged at every step:", all(same))
print("(step 6 chose its weights from h_6, before reading x_7, so none can change)")
