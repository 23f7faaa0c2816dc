"""The training loop: it learns, it is seeded, it feeds a live widget, and eq4 beats eq1."""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import attn_widget.widget as widget_module
from attn_widget.lesson import train_demo_model
from attn_widget.tasks import agreement, language_model, lookup, recall
from attn_widget.text import TextRNN, Vocab
from attn_widget.train import History, evaluate, train


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and lose much on a busy shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(data, update="eq4", align="dot", seed=0, hidden=16):
    torch.manual_seed(seed)
    return TextRNN(data.vocab, 8, hidden, update=update, align=align, n_outputs=data.n_outputs)


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_cuts_the_loss_on_a_tiny_problem_within_seconds():
    data = recall(512, distance=2, n_keys=4, seed=0)
    model = _model(data)
    before = evaluate(model, data)
    start = time.perf_counter()
    history = train(model, data, epochs=6, batch_size=32, lr=2e-2, progress=False)
    assert time.perf_counter() - start < 60  # well under a second when the machine is free
    assert len(history.loss) == len(history.accuracy) == 6
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.accuracy[-1] > 0.9 > 0.5 > before
    assert evaluate(model, data) > 0.9
    assert history.steps == 6 * 16 and history.chance == 0.25


def test_training_is_seeded():
    data = agreement(128, seed=0)
    weights = []
    for _ in range(2):
        model = _model(data, seed=3)
        train(model, data, epochs=2, batch_size=32, seed=5, progress=False)
        weights.append(_flat(model))
    assert torch.equal(weights[0], weights[1])
    model = _model(data, seed=3)
    train(model, data, epochs=2, batch_size=32, seed=6, progress=False)  # another batch order
    assert not torch.equal(weights[0], _flat(model))


def test_language_model_training_scores_every_position():
    data = language_model(tokenizer="char", seq_len=24)
    model = _model(data, update="eq4", align="scaled_dot", hidden=24)
    history = train(model, data, epochs=4, batch_size=16, lr=2e-2, eval_data=data, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert history.eval_accuracy[-1] > 3 * data.chance
    assert len(history.eval_accuracy) == 4


def test_max_steps_and_progress_bar():
    data = recall(64, distance=1, seed=0)
    history = train(_model(data), data, epochs=5, batch_size=8, max_steps=3, progress=True)
    assert history.steps == 3 and len(history.loss) == 1


def test_history_plots_loss_and_accuracy(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    history = History(loss=[2.0, 1.0], accuracy=[0.3, 0.8], eval_accuracy=[0.2, 0.7], chance=0.1)
    fig = history.plot()
    assert len(fig.axes) == 2
    assert len(fig.axes[1].lines) == 3  # train, eval, chance
    fig.savefig(tmp_path / "history.png")
    assert "epochs=2" in repr(history)


def test_bad_arguments_say_what_was_expected():
    data = recall(16, distance=1, n_keys=4, seed=0)
    wrong_head = TextRNN(data.vocab, 4, 4, n_outputs=3)
    with pytest.raises(ValueError, match="3 outputs but the task 'recall' needs 4"):
        train(wrong_head, data, progress=False)
    with pytest.raises(TypeError, match="TaskData"):
        train(_model(data), [1, 2, 3], progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train(_model(data), data, epochs=0, progress=False)
    with pytest.raises(TypeError, match="push_trace"):
        train(_model(data), data, widget=object(), progress=False)
    bad_numbers = [("clip", -1.0), ("clip", 0), ("clip", float("nan")), ("lr", 0.0)]
    bad_numbers += [("lr", float("inf")), ("lr", True), ("lr", "0.01")]
    for name, value in bad_numbers:
        with pytest.raises(ValueError, match=f"{name} must be a positive (finite )?number"):
            train(_model(data), data, progress=False, **{name: value})
    # no clipping, and numpy scalars, are fine
    train(_model(data), data, progress=False, clip=float("inf"), lr=np.float32(0.01), max_steps=1)
    for value in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_steps must be a positive int"):
            train(_model(data), data, progress=False, max_steps=value)
    with pytest.raises(ValueError, match=r"schedule must be one of \('constant', 'cosine'\)"):
        train(_model(data), data, schedule="linear", progress=False)


def _update_sizes(schedule, steps=40):
    """‖θ_s − θ_{s−1}‖ after each optimiser step s = 1 … steps."""
    data = recall(steps * 8, distance=2, n_keys=4, seed=0)
    model = _model(data)
    seen = [_flat(model)]
    train(
        model, data, epochs=1, batch_size=8, schedule=schedule, progress=False,
        every=1, callback=lambda m, step: seen.append(_flat(m)),
    )  # fmt: skip
    return torch.stack([(b - a).norm() for a, b in itertools.pairwise(seen)])


def test_every_argument_is_checked_before_any_step_runs():
    data = recall(64, distance=3, seed=0)
    model = _model(data)
    before = _flat(model)
    bad = [
        dict(seed="abc"), dict(seed=2.5), dict(seed=None), dict(seed=2**70),
        dict(device="tpu"), dict(device=3), dict(eval_data="abc"),
        dict(eval_data=agreement(8, seed=0)), dict(callback=5),
    ]  # fmt: skip
    for kwargs in bad:
        with pytest.raises((TypeError, ValueError)):
            train(model, data, epochs=1, progress=False, **kwargs)
    assert torch.equal(_flat(model), before)  # nothing trained
    train(model, data, epochs=np.int64(1), batch_size=np.int64(32), progress=False)
    assert not torch.equal(_flat(model), before)  # numpy integers are integers


def test_a_model_without_a_head_and_bad_batch_sizes_are_refused():
    data = recall(16, distance=3, seed=0)
    torch.manual_seed(0)
    headless = TextRNN(data.vocab, 8, 16)
    with pytest.raises(ValueError, match="no output head"):
        evaluate(headless, data)
    with pytest.raises(ValueError, match="no output head"):
        train(headless, data, progress=False)
    for bad in (-1, 0, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            evaluate(_model(data), data, batch_size=bad)


def test_history_keeps_each_steps_gradient_norm_before_clipping():
    """One full-batch step (the batch order cannot matter): the norm History keeps is
    ‖∇L‖₂ of the mean cross-entropy at the answers, computed here by hand, not the
    clipped 1e-6."""
    data = recall(64, distance=3, n_keys=4, seed=0)
    model = _model(data)
    logits = model(data.ids, data.lengths)[1]  # (N, T, C)
    loss = torch.nn.functional.cross_entropy(
        logits[torch.arange(len(data)), data.positions], data.targets
    )
    grads = torch.autograd.grad(loss, list(model.parameters()))
    by_hand = torch.cat([g.flatten() for g in grads]).norm().item()
    history = train(model, data, epochs=1, batch_size=64, clip=1e-6, progress=False)
    assert len(history.grad_norm) == history.steps == 1
    assert history.grad_norm[0] == pytest.approx(by_hand, rel=1e-5)
    assert by_hand > 1e-3


def test_cosine_schedule_takes_the_learning_rate_down_to_near_zero():
    """Adam's step has about the size lr whatever the gradient, so the update sizes
    follow the schedule: ½(1 + cos(π s / S)) is 0.0015 at the last step of S = 40."""
    constant, cosine = _update_sizes("constant"), _update_sizes("cosine")
    assert len(cosine) == 40
    assert torch.allclose(cosine[0], constant[0])  # the same first step: factor 1
    assert cosine[-1] < 0.01 * cosine[0]
    assert constant[-1] > 0.2 * constant[0]  # without the schedule it does not fade


# -- live view -------------------------------------------------------------------


def test_callback_runs_every_k_steps_and_at_the_end():
    data = recall(80, distance=1, seed=0)
    seen = []
    train(
        _model(data),
        data,
        epochs=1,
        batch_size=8,
        every=3,
        progress=False,
        callback=lambda model, step: seen.append(step),
    )
    assert seen == [3, 6, 9, 10]


class FakeWidget:
    """The duck-typed interface the loop needs: model, tokens, stepper, push_trace()."""

    def __init__(self, text_model, tokens):
        self.model = text_model.rnn
        self.tokens = tokens
        self.stepper = SimpleNamespace(set_inputs=self._set_inputs)
        self.pushed = []
        self.x = None

    def _set_inputs(self, x):
        self.x = x

    def push_trace(self):
        self.pushed.append(self.x.clone())


def test_widget_gets_re_embedded_inputs_every_k_steps():
    data = recall(64, distance=1, seed=0)
    model = _model(data)
    fake = FakeWidget(model, data.tokens[0])
    train(model, data, epochs=1, batch_size=8, every=4, progress=False, widget=fake)
    assert len(fake.pushed) == 2  # steps 4 and 8
    assert not torch.equal(fake.pushed[0], fake.pushed[1])  # the embedding moved
    _, x = model.embed_text(data.tokens[0])
    assert torch.equal(fake.pushed[-1], x.detach())
    with pytest.raises(ValueError, match="different model"):
        train(_model(data), data, widget=fake, progress=False)


def test_a_real_widget_shows_the_trained_models_attention(monkeypatch):
    if not (widget_module.STATIC / "widget.js").is_file():
        monkeypatch.setattr(widget_module, "_bundle", lambda: ("", ""))
    data = recall(64, distance=2, seed=0)
    model = _model(data)
    w = widget_module.AttentionWidget.from_text(model, data.tokens[0])
    w.goto(w.T)
    version = w.version
    sent = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: sent.append(content))
    train(model, data, epochs=1, batch_size=8, every=4, progress=False, widget=w)
    assert w.version == version + 2 and w.t == w.T
    assert [m["reason"] for m in sent] == ["trace", "trace"]
    with torch.no_grad():
        trace, _ = model(torch.tensor(model.vocab.encode(data.tokens[0])))
    assert torch.allclose(w.current.alpha, trace.alpha[-1, : w.T], atol=1e-6)


# -- the claim, through the public API ---------------------------------------------


@pytest.mark.timeout(180)  # about 10 s on a free core
def test_eq4_remembers_across_thirty_distractors_where_eq1_forgets():
    """Recall at distance 30: the default eq4 (dot align) trained the default way, at
        distance 10 (benchmarks/forgetting.py's last row), against eq1 trained at 30 itself.

        The recipe reaches 0.9 at d = 20 … 100 in 89 of 90 runs
        (benchmarks/results/forgetting_recipes.md); on these very data this CPU gives
        0.84 at d = 30, and 1.00 under a 1e-7 nudge to the starting weights.  So the
        margins below are wide enough for the last-bit differences of
    another CPU (docs/design.md §5)."""
    test_data = recall(300, distance=30, seed=12)
    accuracy = {}
    for update, distance in (("eq1", 30), ("eq4", 10)):
        train_data = recall(300 * 64, distance=distance, seed=11)
        torch.manual_seed(0)
        model = TextRNN(train_data.vocab, 16, 32, update=update, n_outputs=train_data.n_outputs)
        train(model, train_data, epochs=1, batch_size=64, schedule="cosine", progress=False)
        accuracy[update] = evaluate(model, test_data)
    assert accuracy["eq1"] < 0.35  # near chance, 1/8
    assert accuracy["eq4"] > 0.7
    assert accuracy["eq4"] - accuracy["eq1"] > 0.5, accuracy


@pytest.mark.timeout(180)  # about 8 s on a free core
def test_the_lookup_recipe_teaches_eq4_to_look_up_and_eq1_cannot_learn_it():
    """The headline demo's recipe (attn_widget.lesson.DEMO_RECIPES["lookup"]), from the
    torch seed the shipped model used.  Measured on seeds 0 … 9, eq4 scores 0.996 … 1.00
    on held-out sequences; eq1 0.23 … 0.28 on seeds 0 … 4, and 0.26 … 0.29 with five
    times the steps (benchmarks/results/lesson.md).  The thresholds leave that margin
    to another CPU's last bits (docs/design.md §4b)."""
    test = lookup(300, seed=12)
    accuracy = {u: evaluate(train_demo_model("lookup", u, seed=0), test) for u in ("eq4", "eq1")}
    assert accuracy["eq4"] >= 0.9 and accuracy["eq1"] <= 0.5, accuracy


def test_a_loop_other_than_train_confirms_the_default_recipe_at_distance_60():
    """A second trainer, written here from torch alone (its own batching, loss and
    cosine decay, not ``train()``): the library's default model, eq4 with dot align,
    trained on recall at distance 10 for 300 Adam steps of 64, recalls a key 60
    distractors back on at least 0.9 of held-out sequences (chance 1/8) on seeds
    0, 1 and 2.

    The claim is 9 of 10 seeds, and training is chaotic: another CPU makes another
    run from the same seed; 89 of 90 runs measured reached 0.9, and a rare run gets
    stuck.  So one seed of three may miss; two of three may not."""
    accuracies = [_default_recipe_by_hand(seed) for seed in (0, 1, 2)]
    assert sum(a >= 0.9 for a in accuracies) >= 2, accuracies


def _default_recipe_by_hand(seed: int) -> float:
    data = recall(300 * 64, distance=10, seed=100 + seed)
    torch.manual_seed(seed)
    model = TextRNN(data.vocab, 16, 32, n_outputs=data.n_outputs)
    assert (model.rnn.update, model.rnn.align_name) == ("eq4", "dot")  # the default
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    for step, batch in enumerate(order.split(64)):
        for group in optimizer.param_groups:  # cosine from 1e-2 down to near 0
            group["lr"] = 1e-2 * 0.5 * (1 + np.cos(np.pi * step / 300))
        _, logits = model(data.ids[batch], data.lengths[batch])  # (64, T, 8)
        answer = logits[torch.arange(len(batch)), data.positions[batch]]  # logits at "?"
        loss = torch.nn.functional.cross_entropy(answer, data.targets[batch])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    test = recall(500, distance=60, seed=10**6 + 60)
    with torch.no_grad():
        _, logits = model(test.ids, test.lengths)
        guess = logits[torch.arange(len(test)), test.positions].argmax(-1)
    return float((guess == test.targets).float().mean())


def _replace(data, **fields):
    return dataclasses.replace(data, **fields)


_RECALL = recall(32, distance=2, n_keys=4, seed=0)  # T = 6 and lengths 4 … 6
_LM = language_model(seq_len=8)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (_RECALL.subset([]), ValueError, r"data has no examples \(len\(data\) = 0\)"),
        (_replace(_RECALL, targets=_RECALL.targets + 4), ValueError,
         r"data.targets must be class ids in 0 … 3 \(data.n_outputs = 4\) or IGNORE = -100, "
         r"got \d+ at \[0\]"),
        (_replace(_RECALL, targets=_RECALL.targets.float()), TypeError,
         r"data.targets must be an int64 tensor of class ids, got torch.float32$"),
        (_replace(_RECALL, targets=_RECALL.targets.int()), TypeError,
         r"data.targets must be an int64 tensor of class ids, got torch.int32; use "
         r"data.targets.long\(\)"),
        (_replace(_RECALL, targets=_RECALL.targets[:-3]), ValueError,
         r"data.targets must have shape \(N,\) = \(32,\), one answer per example, got \(29,\)"),
        (_replace(_RECALL, positions=_RECALL.lengths), ValueError,
         r"data.positions\[0\] = \d is outside its sequence of length \d: an answer is read at a "
         r"position in 0 … length − 1"),
        (_replace(_RECALL, positions=_RECALL.positions + 100), ValueError,
         r"data.positions\[0\] = 10\d is outside"),
        (_replace(_RECALL, positions=_RECALL.positions.float()), TypeError,
         r"data.positions must be an int64 \(or int32\) tensor of ids, got torch.float32"),
        (_replace(_RECALL, positions=_RECALL.positions[None]), ValueError,
         r"data.positions must have shape \(N,\) = \(32,\), one answer per example, got \(1, 32\)"),
        (_replace(_RECALL, ids=_RECALL.ids[:, :, None]), ValueError,
         r"data.ids must have shape \(N, T\) with N = 32 examples \(len\(data.tokens\)\) and "
         r"T ≥ 1, got \(32, 6, 1\)"),
        (_replace(_RECALL, ids=_RECALL.ids[:20]), ValueError, r"N = 32 examples .*got \(20, 6\)"),
        (_replace(_RECALL, ids=_RECALL.ids.double()), TypeError,
         r"data.ids must be an int64 \(or int32\) tensor of ids, got torch.float64"),
        (_replace(_RECALL, ids=_RECALL.ids + 40), ValueError,
         r"data.ids must be token ids in 0 … 14 \(data.vocab\), got \d+ at \[0, 0\]"),
        (_replace(_RECALL, positions=_RECALL.positions.to(torch.uint8)), TypeError,
         r"data.positions must be an int64 \(or int32\) tensor of ids, got torch.uint8; use "
         r"data.positions.long\(\)"),
        (_replace(_RECALL, ids=_RECALL.ids.tolist()), TypeError,
         r"data.ids must be a torch.Tensor, got list"),
        (_replace(_RECALL, lengths=_RECALL.lengths + 1), ValueError,
         r"data.lengths must be in 1 … T = 6, got 7 at \[\d+\]"),
        (_replace(_RECALL, lengths=_RECALL.lengths[:, None]), ValueError,
         r"data.lengths must have shape \(N,\) = \(32,\), got \(32, 1\)"),
        (_replace(_RECALL, targets=torch.full((32,), -100)), ValueError,
         r"every one of data.targets is IGNORE: there is no answer to score"),
        (_replace(_RECALL, vocab=None), TypeError, r"data.vocab must be a Vocab, got NoneType"),
        (_replace(_LM, targets=_LM.targets[:, :-2]), ValueError,
         r"data.targets must have the shape of data.ids, \(N, T\) = \(\d+, 8\), for a language "
         r"model \(data.positions is None: every position is scored\), got \(\d+, 6\)"),
        (_replace(_LM, targets=_LM.targets[:, 0]), ValueError, r"got \(\d+,\)"),
    ],
)  # fmt: skip
def test_bad_data_is_refused_before_any_weight_changes(data, error, message):
    """Each used to reach torch (IndexError, 'expected target dtype', a batch-size
    mismatch) or, for an empty data set, to return an empty History; evaluate
    returned 0.0 for no data at all.  Both now say what was expected and what came,
    and nothing trains."""
    good = _LM if data.name == "lm" else _RECALL
    model = _model(good, hidden=4)
    before = _flat(model)
    with pytest.raises(error, match=message):
        train(model, data, epochs=1, progress=False)
    with pytest.raises(error, match=message):
        evaluate(model, data)
    with pytest.raises(error, match=re.sub(r"\bdata\b", "eval_data", message)):
        train(model, good, eval_data=data, progress=False)
    assert torch.equal(_flat(model), before)


def test_ids_past_the_models_embedding_and_a_meta_model_are_refused():
    data = _RECALL
    torch.manual_seed(0)
    small = TextRNN(Vocab.from_list(data.vocab.to_list()[:10]), 4, 4, n_outputs=4)
    with pytest.raises(ValueError, match=r"data.ids must be token ids in 0 … 9 \(the model's "
                       r"embedding\), got \d+ at \[\d+, \d+\]"):  # fmt: skip
        train(small, data, progress=False)
    with torch.device("meta"):
        ghost = TextRNN(data.vocab, 4, 4, n_outputs=4)
    with pytest.raises(ValueError, match=r"the model's weights \['embed.weight', 'rnn.A.weight', "
                       r"'rnn.A.bias'\] are on the meta device"):  # fmt: skip
        train(ghost, data, progress=False)


def test_a_model_already_training_on_another_thread_is_refused_by_name():
    # Two loops stepping one model's weights in place at once corrupted PyTorch's heap
    # (hostile pass 2: a segfault in 1 run of 10); the second is refused before any step.
    import threading

    data = recall(64, distance=1, seed=0)
    model = _model(data)
    inside, release = threading.Event(), threading.Event()

    def hold(_model, _step):  # the first loop waits here, mid-training, holding the model
        inside.set()
        assert release.wait(60)

    first = threading.Thread(
        target=train, args=(model, data),
        kwargs={"epochs": 1, "batch_size": 64, "progress": False, "callback": hold},
    )  # fmt: skip
    first.start()
    try:
        assert inside.wait(60)
        before = _flat(model).clone()
        errors = []

        def second():
            try:
                train(model, data, epochs=1, progress=False)
            except Exception as error:  # the test reads it below
                errors.append(error)

        other = threading.Thread(target=second)
        other.start()
        other.join(60)
        assert len(errors) == 1 and isinstance(errors[0], ValueError), errors
        assert re.search(
            r"this TextRNN is already being trained by train\(\) on thread", str(errors[0])
        )
        assert torch.equal(_flat(model), before)  # same computation: no step of the second ran
    finally:
        release.set()
        first.join(60)
    # once the first loop ends, the model trains again (on this thread, and the same one)
    assert train(model, data, epochs=1, progress=False).steps == 1
    with pytest.raises(ValueError, match="already being trained"):  # from its own callback too
        train(model, data, epochs=1, progress=False,
              callback=lambda m, s: train(m, data, epochs=1, progress=False))  # fmt: skip
    assert train(model, data, epochs=1, progress=False).steps == 1  # let go after a failure
