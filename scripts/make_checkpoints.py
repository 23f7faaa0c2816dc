"""Regenerate the demo models in ``attn_widget/checkpoints/`` (deterministic, CPU, a few minutes).

Every model is a small TextRNN (D = 16, H = 32) trained on one thread with
fixed seeds by :func:`attn_widget.lesson.train_demo_model`, with its task's
recipe (:data:`attn_widget.lesson.DEMO_RECIPES`), so a run on the same
machine writes the same files.  The tasks and the models each ships
(``SHIPPED`` in ``attn_widget/checkpoint.py``):

- ``lookup``, the headline demo: associative recall ``k3 v7 k1 v2 … ? k1 .``
  → ``v2`` (``attn_widget.tasks.lookup``).  eq4/dot, eq3/additive, eq1.
- ``recall``: ``d2 … k1 d5 … d6 ?`` → ``k1`` with the key anywhere among the
  first positions (``max_prefix``), so the model learns what the key is,
  not where it sits.  eq4/dot, eq3/additive, eq1, and the LSTMN.
- ``agreement``, the control: subject-verb agreement, which eq1 solves as
  well as attention does.  eq4/dot, eq3/additive, eq1, the LSTMN.

Seeds.  Training from some initialisations stalls, or learns the task
without the lesson (eq4 answering recall right while its largest weight
sits elsewhere on many sequences; benchmarks/results/lesson.md counts how
often).  A cell meant to learn its task (``LEARNS``) takes the first seed of
``SEEDS`` whose model meets the targets on the test set (``meets_lesson``);
the others (eq1, and eq3 on lookup, which it cannot learn) train once, with
seed 0.  The metadata records the seed and how many were tried.

Test set and held-out figures.  Each task's test set is 1000 sequences of
the demo generator with seed 2 (training uses seed 1).  On it the script
measures each model's accuracy and, for the models with attention,
:func:`attn_widget.lesson.knockout_effect`; for recall also the accuracy
with the key displaced (anywhere in the first 60 positions, at 10 … 100
distractors).  They go into the metadata (``held_out``, ``displaced``).

Demo sentences.  Chosen with the eq4/dot model and shared by all the cells
of a task, so the widgets compare like with like.

- lookup and recall: a *typical* test sequence, the one at the median of
  the weight that eq4's answering step puts on the answer-bearing state
  (ties by the sequence's place in the test set).  The widget opens at the
  answering step (position k = T).
- agreement: a *picked* sentence, the first of ``AGREEMENT_CANDIDATES`` that
  eq4 answers right with its largest weight on the subject.  The metadata
  says so and holds the held-out figure, which is far lower: agreement is
  the control, kept for the tutorials that show it.

The agreement models.  The shipped ones were trained by this script's
agreement recipe on an earlier core; training is chaotic, so the same recipe
on today's core makes other weights and picks another sentence
("the key to the cabinets is rusty ." where the shipped demo reads "the
author that the teachers liked is famous .").  Tutorials 01, 05 and 07 show
the shipped sentence, so the default run leaves agreement alone;
``--tasks agreement`` retrains it (then rebuild those tutorials), and
``--tasks agreement --refresh`` only measures the shipped models again and
rewrites their metadata.

Run from the repository root::

    python scripts/make_checkpoints.py                  # lookup and recall
    python scripts/make_checkpoints.py --tasks recall   # one
    python scripts/make_checkpoints.py --tasks agreement --refresh   # metadata only
    python scripts/make_checkpoints.py --tasks recall --cells lstmn
                                        # one cell; the demo sentence is read from
                                        # the shipped eq4-dot checkpoint's metadata
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attn_widget.checkpoint import (  # noqa: E402
    CHECKPOINT_DIR,
    SHIPPED,
    STEMS,
    builtin_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from attn_widget.lesson import (  # noqa: E402
    DEMO_RECIPES,
    knockout_effect,
    recipe_data,
    train_demo_model,
)
from attn_widget.tasks import ADJECTIVES, GENERATORS  # noqa: E402
from attn_widget.train import evaluate  # noqa: E402

ALIGN = {"eq4": "dot", "eq3": "additive", "eq1": None, "lstmn": None}  # as recorded
SEEDS, TEST_SEED, TEST_SIZE = (0, 1, 2, 3), 2, 1000
# The cells meant to learn each task; they retry seeds until they meet LESSON.
LEARNS = {"lookup": ("eq4",), "recall": ("eq4", "eq3", "lstmn"), "agreement": SHIPPED["agreement"]}
DISPLACED_PREFIX, DISPLACED_DISTANCES = 60, (10, 30, 60, 100)


def meets_lesson(task, update, effect) -> bool:
    """The targets a cell that learns must meet on the test set: accuracy ≥ 0.95, and
    for eq4 on lookup and recall the lesson's (largest weight on the answer's state on
    ≥ 90 %, accuracy ≤ 0.3 with it hidden and ≥ 0.85 with another hidden)."""
    if effect.accuracy < 0.95:
        return False
    if update != "eq4" or task == "agreement":
        return True
    return (
        effect.argmax_on_answer >= 0.9
        and effect.answer_hidden <= 0.3
        and effect.other_hidden >= 0.85
    )


AGREEMENT_CANDIDATES = [
    "the key to the cabinets is rusty .",
    "the keys near the cabinet are lost .",
    "the author that the teachers liked is famous .",
    "the paintings behind the old window are missing .",
    "the pilot that saw the boats is ready .",
    "the letters under the lamp are here .",
]


def fit(task, update, train_data, test_data):
    """Train one cell; return (model, its KnockoutEffect or None for eq1, seed, seeds tried).

    A cell in LEARNS takes the first seed whose model meets the lesson's targets
    (``meets_lesson``); if none does, the last is kept and a warning printed (the
    metadata's ``meets_targets`` says so).  Any other cell trains once, with the
    first seed."""
    seeds = SEEDS if update in LEARNS[task] else SEEDS[:1]
    for seed in seeds:
        model = train_demo_model(task, update, seed=seed, data=train_data)
        effect = None if update == "eq1" else knockout_effect(model, test_data, seed=TEST_SEED)
        if update == "eq1":
            met = evaluate(model, test_data) >= 0.95
        else:
            met = meets_lesson(task, update, effect)
        if met:
            break
    if update in LEARNS[task] and not met:
        print(f"WARNING: {task} {update}: no seed of {SEEDS} met the targets; kept seed {seed}")
    return model, effect, seed, seeds.index(seed) + 1, met


@torch.no_grad()
def pick_typical(model, data) -> tuple[int, float]:
    """The test example at the median weight on the answer-bearing state: (index, that weight).

    The weight is α_{t, s} of the answering step t = positions[n] on the
    answer slot s = answer_slots[n]; examples are sorted by it (ties by their
    index) and the middle one is taken."""
    trace, _ = model(data.ids, data.lengths)
    rows = torch.arange(len(data))
    alpha = trace.alpha[rows, data.positions, data.answer_slots].tolist()
    order = sorted(range(len(data)), key=lambda n: (alpha[n], n))
    n = order[len(order) // 2]
    return n, alpha[n]


def pick_agreement_sentence(model):
    """The first candidate that eq4 answers right with its largest weight on the subject."""
    for text in AGREEMENT_CANDIDATES:
        tokens = text.split()
        verb = next(i for i, w in enumerate(tokens) if w in ("is", "are"))
        subject = next(i for i in range(verb) if tokens[i] != "the" and tokens[i] not in ADJECTIVES)
        with torch.no_grad():
            trace, logits = model(torch.tensor(model.vocab.encode(tokens, strict=True)))
        alpha = trace.alpha[verb - 1, :verb]
        number = ["sg", "pl"][int(logits[verb - 1].argmax())]
        if (
            number == ("sg" if tokens[verb] == "is" else "pl")
            and int(alpha.argmax()) == subject + 1
        ):
            return text, verb, subject, float(alpha[subject + 1])
    raise RuntimeError("no candidate sentence shows the verb step attending to its subject")


def agreement_pick(effect) -> str:
    return (
        "picked, not typical: the first of a fixed list of sentences whose verb step puts "
        "eq4's largest weight on the subject; on held-out sentences it does so on "
        f"{effect.argmax_on_answer:.0%} (held_out.argmax_on_answer of the eq4 model)"
    )


def choose_demo(task, model, test_data, effect) -> dict:
    """The demo sentence of a task, chosen with its eq4 model, and how it was chosen."""
    if task == "agreement":
        text, verb, subject, weight = pick_agreement_sentence(model)
        return {
            "demo_text": text,
            "demo_position": verb,
            "subject_pos": subject,
            "verb_pos": verb,
            "answer_slot": subject + 1,
            "demo_alpha": round(weight, 4),
            "demo_pick": agreement_pick(effect),
        }
    n, weight = pick_typical(model, test_data)
    demo = {
        "demo_text": " ".join(test_data.tokens[n]),
        "demo_position": int(test_data.lengths[n]),
        "answer_slot": int(test_data.answer_slots[n]),
        "demo_alpha": round(weight, 4),
        "demo_pick": (
            f"typical: the test sequence (seed {TEST_SEED}, {len(test_data)} sequences) at the "
            "median of the weight that eq4's answering step puts on the answer-bearing state"
        ),
    }
    if task == "recall":
        demo["key_pos"] = test_data.info["key_pos"][n]
    return demo


def held_out_figures(model, effect, test_data) -> dict:
    """The metadata's ``held_out``: accuracy on the whole test set, and the KnockoutEffect's
    fields (its accuracy and n, over the examples it measures, as knockout_accuracy and
    knockout_n: all of them but for agreement's sentences with no modifier)."""
    accuracy = {"accuracy": round(evaluate(model, test_data), 4), "n": len(test_data)}
    if effect is None:
        return accuracy
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(effect).items()}
    figures = {f"knockout_{k}" if k in ("accuracy", "n") else k: v for k, v in figures.items()}
    return {**accuracy, **figures}


def displaced(model, task_args) -> list[list]:
    """[[d, accuracy], …] with the key anywhere in the first DISPLACED_PREFIX positions."""
    args = {**task_args, "max_prefix": DISPLACED_PREFIX}
    return [
        [
            d,
            round(
                evaluate(
                    model, GENERATORS["recall"](500, seed=TEST_SEED, **{**args, "distance": d})
                ),
                4,
            ),
        ]
        for d in DISPLACED_DISTANCES
    ]


def refresh(task: str) -> None:
    """Measure the shipped models of ``task`` again and rewrite their metadata's held-out
    figures (and, for agreement, the demo's ``demo_pick``, ``answer_slot`` and
    ``demo_alpha``); the weights and the demo sentence stay as they are."""
    eq4 = load_checkpoint(builtin_checkpoint(task, "eq4"))
    test_data = GENERATORS[task](TEST_SIZE, seed=TEST_SEED, **eq4.metadata["task_args"])
    eq4_effect = knockout_effect(eq4, test_data, seed=TEST_SEED)
    demo = {}
    if task == "agreement":
        meta = eq4.metadata
        tokens, subject = meta["demo_text"].split(), meta["subject_pos"]
        with torch.no_grad():
            trace, _ = eq4(torch.tensor(eq4.vocab.encode(tokens, strict=True)))
        demo = {
            "answer_slot": subject + 1,
            "demo_alpha": round(float(trace.alpha[meta["verb_pos"] - 1, subject + 1]), 4),
            "demo_pick": agreement_pick(eq4_effect),
        }
    for update in SHIPPED[task]:
        path = builtin_checkpoint(task, update)
        model = load_checkpoint(path)
        effect = None if update == "eq1" else knockout_effect(model, test_data, seed=TEST_SEED)
        figures = held_out_figures(model, effect, test_data)
        metadata = {
            **model.metadata,
            "held_out": {**figures, "seed": TEST_SEED},
            "refreshed_by": "scripts/make_checkpoints.py --refresh (weights unchanged)",
            **demo,
        }
        save_checkpoint(model, path, metadata)
        print(f"{path.name:<26} held_out {metadata['held_out']}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["lookup", "recall"], choices=list(SHIPPED))
    parser.add_argument(
        "--cells", nargs="+", default=None, help="updates to make, e.g. lstmn (default: all)"
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="no training: measure the shipped models again and rewrite their metadata",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the same arithmetic, so the same weights, on every run
    torch.use_deterministic_algorithms(True)
    CHECKPOINT_DIR.mkdir(exist_ok=True)
    start = time.perf_counter()
    if args.refresh:
        for task in args.tasks:
            refresh(task)
        return
    for task in args.tasks:
        recipe = DEMO_RECIPES[task]
        train_data = recipe_data(task)
        test_data = GENERATORS[task](TEST_SIZE, seed=TEST_SEED, **recipe["task_args"])
        # eq4 first: it chooses the demo sentence
        cells = sorted(SHIPPED[task], key=lambda u: u != "eq4")
        cells = [u for u in cells if args.cells is None or u in args.cells]
        demo = None
        if cells and cells[0] != "eq4":  # eq4 is not remade: keep its sentence
            shipped = load_checkpoint(builtin_checkpoint(task, "eq4")).metadata
            keys = ("demo_text", "demo_position", "demo_pick", "demo_alpha", "answer_slot")
            keys += ("subject_pos", "verb_pos", "key_pos")
            demo = {key: shipped[key] for key in keys if key in shipped}
        for update in cells:
            model, effect, seed, tried, met = fit(task, update, train_data, test_data)
            figures = held_out_figures(model, effect, test_data)
            if demo is None:
                demo = choose_demo(task, model, test_data, effect)
            train_args = dict(recipe["train_args"], epochs=recipe.get("epochs", 1))
            if "steps" in recipe:
                train_args["max_steps"] = recipe["steps"]
            metadata = {
                "task": task,
                "task_args": dict(recipe["task_args"]),
                "train_args": train_args,
                "seed": seed,
                "seeds_tried": tried,
                "meets_targets": met if update in LEARNS[task] else None,
                "train_size": len(train_data),
                "update": update,
                "align": ALIGN[update],
                "accuracy": figures["accuracy"],
                "chance": test_data.chance,
                "test_size": len(test_data),
                "classes": list(test_data.classes),
                "held_out": {**figures, "seed": TEST_SEED},
                "made_by": "scripts/make_checkpoints.py",
                **demo,
            }
            if task == "recall":
                metadata["displaced"] = {
                    "max_prefix": DISPLACED_PREFIX,
                    "accuracy_by_distance": displaced(model, recipe["task_args"]),
                }
            path = save_checkpoint(model, CHECKPOINT_DIR / f"{task}-{STEMS[update]}.pt", metadata)
            shown = {k: v for k, v in figures.items() if k not in ("n", "knockout_n", "chance")}
            print(
                f"{path.name:<24} seed {seed} ({tried} tried)  "
                + "  ".join(f"{k} {v:.2f}" for k, v in shown.items())
                + (
                    f"  displaced {metadata['displaced']['accuracy_by_distance']}"
                    if task == "recall"
                    else ""
                )
                + f"  {path.stat().st_size / 1024:.0f} KiB  ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        if demo is not None:
            print(f"  demo: {demo['demo_text']!r}  ({demo['demo_pick']})", flush=True)


if __name__ == "__main__":
    main()
