"""Input checks for the models and the stepper: each says what was expected and
what came (docs/design.md §4), before anything runs or moves.

One set of checks per kind of input: sizes, a sequence x (T, D) or (B, T, D),
one input x_next (D,), lengths, a knockout mask or slots, and the weights.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

from .cells import uses_attention, z_layout

# The most weights a core model may hold: 2**26 = 67,108,864, 256 MiB in float32 (training
# with Adam holds four copies: 1 GiB).  Stepping reads every weight once per step, so a
# model this size already takes tens of milliseconds a step on a CPU; the largest in
# this project's notebooks and benchmarks holds about a million (eq4, H = 512, D = 64).
# Checked from the sizes before anything is allocated, so attn_size = 10**12 is refused
# here rather than in the allocator.
MAX_WEIGHTS = 2**26


def check_weights_finite(model: nn.Module, skip: str | None = None) -> None:
    """Raise if a parameter has another shape than the model's sizes give it (for a
    model that states them, ``weight_shapes()``), is on the meta device, or holds
    NaN or Inf (those under the prefix ``skip`` are left to whoever checks that
    submodule).  Run at every ``model(x)`` and at a stepper's step 0."""
    if callable(getattr(model, "weight_shapes", None)):
        check_weight_shapes(model, model.weight_shapes())
    for name, p in model.named_parameters():
        if skip is not None and name.startswith(skip):
            continue
        check_not_meta(p, f"the model's weight {name}")
        # A sum is finite unless the weight holds NaN or Inf (or its finite values
        # overflow, which the whole check then rules out): one cheap op per weight.
        if not bool(torch.isfinite(p.detach().sum())) and not bool(torch.isfinite(p).all()):
            raise ValueError(
                f"the model's weight {name} contains NaN or Inf; the network cannot run "
                "(was it trained with too large a learning rate, or loaded from a broken file?)"
            )


def check_weight_shapes(model: nn.Module, shapes: dict[str, tuple[int, ...] | None]) -> None:
    """Each parameter in ``shapes`` has that shape (None: is absent).  A submodule
    replaced by hand (``model.A = nn.Linear(…)``) one column too wide would
    otherwise run, ignoring the column; one with a bias the step never reads would
    silently drop it."""
    found = {name: tuple(p.shape) for name, p in model.named_parameters(remove_duplicate=False)}
    if all(found.get(name) == shape for name, shape in shapes.items()):
        return
    sizes = ", ".join(
        f"{name} = {getattr(model, name)}"
        for name in ("input_size", "hidden_size", "attn_size")
        if hasattr(model, name)
    )
    for name, shape in shapes.items():
        if shape is None and name in found:
            raise ValueError(
                f"the model's {name} (shape {found[name]}) is a parameter its step never reads; "
                "remove it (an nn.Linear built with bias=False has none)"
            )
        if shape is not None and found.get(name) != shape:
            got = f"shape {found[name]}" if name in found else "no such parameter"
            raise ValueError(
                f"the model's {name} must have shape {shape}"
                + (f" for its sizes ({sizes})" if sizes else "")
                + f", found {got}"
            )


def check_not_meta(tensor: Tensor, what: str) -> None:
    """Refuse a tensor on the meta device: a shape with no values to compute with."""
    if tensor.device.type == "meta":
        raise ValueError(
            f"{what} is on the meta device: it has a shape but no values (a model built "
            "under torch.device('meta')); give it values first, e.g. "
            "model.to_empty(device='cpu') then model.load_state_dict(...)"
        )


def check_sizes(**sizes) -> None:
    """Each size is a positive int (None stands for a default)."""
    for name, value in sizes.items():
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_weight_count(
    update: str, input_size: int, hidden_size: int, attn_size: int | None, *, extra: int = 0
) -> None:
    """A model of these (checked) sizes holds at most ``MAX_WEIGHTS`` weights, counting
    ``extra`` ones outside the recurrent part (a text model's embedding and head).

    eq1/eq3/eq4: A and b, H·(|z| + 1), plus at most (2H + 1)·d for the align;
    the LSTMN (``update = "lstmn"``): W and b, 4H·(H + D + 1), plus W_h, W_h̃,
    W_x and v, d·(2H + D + 1).
    """
    D, H, d = input_size, hidden_size, attn_size or hidden_size
    if update == "lstmn":
        count = 4 * H * (H + D + 1) + d * (2 * H + D + 1)
    else:
        count = H * (sum(size for _, size in z_layout(update, D, H)) + 1)
        count += d * (2 * H + 1) if uses_attention(update) else 0
    count += extra
    if count > MAX_WEIGHTS:
        raise ValueError(
            f"input_size = {D}, hidden_size = {H}, attn_size = {d} ({update}) make a model "
            f"of {count:,} weights ({count * 4 / 2**30:.1f} GiB in float32); at most "
            f"MAX_WEIGHTS = {MAX_WEIGHTS:,} are allowed"
        )


def knockout_slots(slots) -> tuple[int, ...]:
    """A stepper's knockout as sorted distinct slot indices, from indices or a bool mask."""
    if slots is None:
        return ()
    if isinstance(slots, Tensor):
        if slots.dtype == torch.bool:
            if slots.dim() != 1:
                raise ValueError(
                    f"a knockout mask must be 1-D (True at slot i hides h_i), got shape "
                    f"{tuple(slots.shape)}"
                )
            return tuple(int(i) for i in slots.nonzero().flatten().tolist())
        if slots.is_floating_point() or slots.is_complex() or slots.dim() > 1:
            raise TypeError(
                f"knockout slots must be ints or a 1-D bool mask, got a tensor of dtype "
                f"{slots.dtype} and shape {tuple(slots.shape)}"
            )
        slots = slots.flatten().tolist()
    if isinstance(slots, (str, bytes)) or not hasattr(slots, "__iter__"):
        raise TypeError(
            f"knockout must be an iterable of slot indices or a 1-D bool tensor, "
            f"got {type(slots).__name__}"
        )
    out = set()
    for i in slots:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"knockout slots must be ints, got {i!r} ({type(i).__name__})")
        if i < 0:
            raise ValueError(f"knockout slots must be ≥ 0 (slot 0 is h_0), got {int(i)}")
        out.add(int(i))
    return tuple(sorted(out))


def check_float_tensor(x, model, what: str) -> Tensor:
    """x as a float tensor in the model's dtype and on its device."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{what} must be a floating-point tensor, got dtype {x.dtype}; "
            "embed token ids first (see attn_widget.text)"
        )
    param = next(model.parameters())
    if x.dtype != param.dtype:
        raise TypeError(
            f"{what} has dtype {x.dtype} but the model's parameters are "
            f"{param.dtype}; convert one to match (x.to({param.dtype}) or "
            f"model.to({x.dtype}))"
        )
    check_not_meta(param, "the model")
    check_not_meta(x, what)
    if x.device != param.device:
        raise ValueError(f"{what} is on {x.device} but the model is on {param.device}")
    return x


def check_finite(x: Tensor, what: str) -> None:
    """Raise if x holds NaN or Inf, naming the first place."""
    # A NaN or ±Inf anywhere makes the sum non-finite, so one cheap reduction
    # clears the usual case; only a non-finite sum (which may also be an
    # overflow of large finite values) pays for the exact elementwise check.
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise ValueError(f"{what} contains NaN or Inf (first at index {tuple(bad)})")


def check_sequence(x, model, *, batched_ok: bool) -> tuple[Tensor, bool]:
    """Return x as (B, T, D) and whether it came batched."""
    x = check_float_tensor(x, model, "x")
    D = model.input_size
    expected = "(T, D) or (B, T, D)" if batched_ok else "(T, D)"
    if x.dim() not in ((2, 3) if batched_ok else (2,)) or x.shape[-1] != D:
        raise ValueError(
            f"x must have shape {expected} with D = input_size = {D}, got shape {tuple(x.shape)}"
        )
    if x.shape[-2] == 0:
        raise ValueError(
            f"x is an empty sequence (T = 0, shape {tuple(x.shape)}); give at least one input"
        )
    if x.dim() == 3 and x.shape[0] == 0:
        raise ValueError(f"x is an empty batch (B = 0, shape {tuple(x.shape)})")
    check_finite(x, "x")
    return (x, True) if x.dim() == 3 else (x[None], False)


def check_vector(x, model) -> Tensor:
    """One input x_next, shape (D,), finite, in the model's dtype: detached."""
    x = check_float_tensor(x, model, "x_next")
    if tuple(x.shape) != (model.input_size,):
        raise ValueError(
            f"x_next must have shape (D,) = ({model.input_size},), got {tuple(x.shape)}"
        )
    check_finite(x, "x_next")
    return x.detach()


def check_lengths(lengths, B: int, T: int, batched: bool) -> Tensor | None:
    if lengths is None:
        return None
    if not batched:
        raise ValueError("lengths applies to a batch (B, T, D); x came unbatched (T, D)")
    try:
        lengths = torch.as_tensor(lengths)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"lengths must be a (B,) tensor or list of ints, got {type(lengths).__name__}: "
            f"{lengths!r}"[:200]
        ) from error
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (B,):
        raise ValueError(f"lengths must have shape (B,) = ({B},), got {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > T).any()):
        raise ValueError(f"every length must be in 1 … T = {T}, got {lengths.tolist()}")
    return lengths.long()


def check_knockout(knockout, B: int, T: int, batched: bool, device) -> Tensor | None:
    """The knockout mask as (1, T+1) or (B, T+1) bool, or None when it hides nothing.

    Any bool tensor that broadcasts (torch's rules) to the slots of x: (B, T+1) for a
    batch, (T+1,) for one sequence, so (T+1,), (1, T+1), (B, 1) (True hides every
    slot of that sequence) and () are masks too; it means what the mask expanded to
    that shape means."""
    if knockout is None:
        return None
    n = T + 1
    target = (B, n) if batched else (n,)
    expected = f"(B, T+1) = ({B}, {n})" if batched else f"(T+1,) = ({n},)"
    if not isinstance(knockout, Tensor):
        raise TypeError(
            f"knockout must be a bool torch.Tensor of shape {expected} or one that "
            f"broadcasts to it (True hides the state h_i from attention), got "
            f"{type(knockout).__name__}"
        )
    if knockout.dtype != torch.bool:
        raise TypeError(
            f"knockout must be a bool tensor (True hides h_i), got dtype {knockout.dtype}; "
            "for slot indices build one, e.g. mask = torch.zeros(T + 1, dtype=torch.bool); "
            "mask[slots] = True"
        )
    shape = tuple(knockout.shape)
    try:
        fits = torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"knockout must have shape {expected}, one entry per state h_0 … h_T"
            + (" of each sequence" if batched else "")
            + f", or a shape that broadcasts to it (e.g. (T+1,) = ({n},)"
            + (f" or (1, {n})" if batched else "")
            + f"), got {shape}"
        )
    if knockout.device != device:
        raise ValueError(f"knockout is on {knockout.device} but x is on {device}")
    if not bool(knockout.any()):
        return None  # hides nothing: the plain run, with its plain softmax
    # One row for every sequence unless the mask has a row per sequence.
    rows = B if batched and len(shape) == 2 and shape[0] == B else 1
    return knockout.expand(*target).reshape(-1, n)[:rows].contiguous()  # (1 or B, T+1)
