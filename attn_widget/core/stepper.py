"""Stepping a model one token at a time: the :class:`Stepper`, and the public
:class:`StepModel` protocol a model implements to be stepped.

Any recurrent model with attention over its own past joins the stepper, and
with it the session, the widget, the HTML export and the figures, by
providing three methods (docs/design.md §3, "Bring your own model"):

- ``new_cache(x, capacity)``: the model's cache of the past for one sequence;
- ``step_record(t, x_next, cache)``: run step t, the very step its batched
  ``forward`` runs, and return the record of what it used;
- ``trace_of_steps(steps, x)``: the records as the trace ``model(x)`` returns.

:class:`~attn_widget.core.SelfAttentionRNN` and :class:`~attn_widget.core.LSTMN`
implement them; ``examples/gru_attention.py`` is a third model written against
this protocol alone.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from .checks import check_sequence, check_vector, check_weights_finite, knockout_slots


class StepRecord(Protocol):
    """What the stepper and its readers need of a step's record: the step index
    t, the input x_{t+1} it read (D,), its weights α_{t,0 … t} ((t+1,), or None
    for a model without attention) and the state h_{t+1} it made (H,).  A record
    may carry more named intermediates; those in
    :data:`attn_widget.protocol.STEP_FIELDS` (``scores``, ``c``, ``z``, ``pre``,
    the LSTMN's gates, …) are sent to the front end.  The widget's front end
    draws a record that has ``z`` and ``pre`` (the cell's input, in the blocks
    the model's ``z_layout`` names, and its pre-activation) or the LSTMN's ``m``,
    and refuses one that has neither."""

    t: int
    x: Tensor
    alpha: Tensor | None
    h: Tensor


@runtime_checkable
class StepModel(Protocol):
    """A recurrent model with attention over its own past, as the stepper runs it.

    It is an ``nn.Module`` with at least one parameter (new inputs take its
    dtype and device, and the stepper watches the parameters for changes), with
    ``input_size`` D and ``hidden_size`` H, and:

    - ``new_cache(x, capacity)``: an empty cache of the past for one sequence
      x (T, D), with room for ``capacity`` states (it may grow): whatever the
      model's steps read later (past states, their keys), holding h_0.
    - ``step_record(t, x_next, cache)``: run step t on x_next = x_{t+1} (D,),
      reading slots 0 … t of the cache and writing slot t+1, and return its
      :class:`StepRecord`, with tensors of its own (not views of the cache).
      It runs under ``torch.no_grad()``.  After an edit the stepper runs step t
      again on a new input: the cache's slots past t are then to be replaced.
      **Knockout**, where the model supports it: ``step_record(t, x_next,
      cache, hidden=mask)`` with ``mask`` (t+1,) bool gives the hidden slots
      α = 0 and a softmax over the others.
    - ``trace_of_steps(steps, x)``: steps 0 … n-1 as the trace ``model(x[:n])``
      returns (its ``.h`` is (n+1, H)).
    - ``model(x)`` for x (B, T, D): the batched run, a trace whose ``.h`` is
      (B, T+1, H); the gradient shading differentiates it.  Stepping gives its
      numbers (a test of a model's own should check so).

    Optional attributes name the model for a front end: ``update_rule`` (a
    short name; "eq1", "eq3", "eq4" and "lstmn" have their equations drawn),
    ``align_name`` and ``z_layout`` (see ``SelfAttentionRNN``); ``attends``
    (False when no step reads past states, so knockout changes nothing) and
    ``zero_slot`` (False when no step reads slot 0, h_0).
    """

    input_size: int
    hidden_size: int

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def new_cache(self, x: Tensor, capacity: int) -> Any: ...

    def step_record(self, t: int, x_next: Tensor, cache: Any) -> StepRecord: ...

    def trace_of_steps(self, steps: Sequence[StepRecord], x: Tensor) -> Any: ...


def _is_read(model, i: int) -> bool:
    """Whether some step's attention reads slot i: not when the model attends to
    nothing (``attends = False``: eq1), and not slot 0 of a model with
    ``zero_slot = False`` (the paper's LSTMN)."""
    return getattr(model, "attends", True) and (i != 0 or getattr(model, "zero_slot", True))


def supports_knockout(model) -> bool:
    """Whether the model's ``step_record`` takes a ``hidden=`` mask."""
    try:
        parameters = inspect.signature(model.step_record).parameters
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return False
    return "hidden" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


class Stepper:
    """Runs a model one step at a time and keeps every step it ran.

    The model is any :class:`StepModel`: a
    :class:`~attn_widget.core.SelfAttentionRNN` (steps are
    :class:`~attn_widget.core.Step`), an :class:`~attn_widget.core.LSTMN`
    (:class:`~attn_widget.core.LSTMNStep`), or a model of your own.  Each
    supplies its cache of the past (``new_cache``), its step (``step_record``,
    the very step its batched ``forward`` runs) and its trace
    (``trace_of_steps``), and this class does the rest: position, inputs,
    edits, knockout and the weight check.

    The position k counts the inputs already read (0 … T).  ``step()``
    moves to k+1, running step k only if it has not run before; ``back()``,
    ``goto(k)`` and ``reset()`` move without recomputing anything already
    computed.  ``step(x_next)`` replaces the upcoming input x_{k+1} (or appends
    one at the end), drops every step computed after position k and runs the
    new step: the basis of what-if edits.

    Steps run under ``torch.no_grad()``.  Past states and their keys are
    cached, so step t costs O(t·(d+H)) for attention plus the cell's fixed
    cost.  Every step of a sequence uses the weights as they were at its
    step 0.  If they change after that (an optimiser step, an in-place edit,
    ``model.double()``), computing a new step raises
    :class:`WeightsChangedError` rather than mixing old keys with new weights:
    ``truncate(0)`` (as the widget does) recomputes with the new ones.  The
    check reads each parameter's storage and in-place version counter, so it
    sees every change made through the parameter itself; writes through
    ``param.data`` bypass autograd's counter and are not seen.

    Knockout: ``knockout`` (here or :meth:`set_knockout`) hides chosen states
    from attention, as ``model(x, knockout=mask)`` does, and stepping gives the
    batched run's numbers with that mask.  The mask is a set of slot indices
    (slot i is h_i, slot 0 is h_0); it belongs to the stepper, not to the
    inputs, so it survives ``set_inputs`` and edits, and a slot beyond the
    current T is kept and hides h_i once the sequence grows that far.

    Attributes:
        steps: the computed steps, ``steps[t]`` is step t (the model's records).
        k: the current position.
    """

    def __init__(self, model: nn.Module, x: Tensor | None = None, *, knockout=None):
        self.model = model
        param = next(model.parameters())
        if x is None:
            x = param.new_zeros(0, model.input_size)
        else:
            x, _ = check_sequence(x, model, batched_ok=False)
            x = x[0].detach().clone()
        self.x = x  # (T, D), the inputs known so far
        self.steps: list = []  # steps 0 … frontier-1, each computed once
        self.k = 0
        self._cache: Any = None  # the model's, built by the first step
        self._watch: WeightWatch | None = None  # the weights step 0 read
        self._knockout: tuple[int, ...] = ()  # sorted, distinct
        self.set_knockout(knockout)

    @property
    def T(self) -> int:
        """How many inputs are known."""
        return len(self.x)

    @property
    def frontier(self) -> int:
        """How many steps have been computed (positions 0 … frontier are ready)."""
        return len(self.steps)

    @property
    def history(self) -> list:
        """Deprecated name of :attr:`steps` ("History" is the training log's name)."""
        warnings.warn("Stepper.history is now Stepper.steps", DeprecationWarning, stacklevel=2)
        return self.steps

    @property
    def h(self) -> Tensor:
        """h_k, the state at the current position (h_0 = 0)."""
        return self.h_at(self.k)

    @property
    def current(self) -> StepRecord | None:
        """The step shown at position k (step k-1), or None at k = 0."""
        return self.steps[self.k - 1] if self.k else None

    @property
    def knockout(self) -> tuple[int, ...]:
        """The slots hidden from attention, as a sorted tuple of ints (() for none)."""
        return self._knockout

    def set_knockout(self, slots) -> None:
        """Hide the states h_i, i in ``slots``, from every step's attention.

        Args:
            slots: an iterable of slot indices i ≥ 0 (slot 0 is h_0, slot i the
                state after reading x_i), a 1-D bool tensor (True at i hides
                slot i; slots past its end are visible), or None / () for none.
                A slot beyond T is allowed: it takes effect when the sequence
                grows that far.

        Step t reads slots 0 … t, so changing slot i can change steps t ≥ i
        only: the steps before the first changed slot are kept as they are,
        the rest are dropped.  The position k stays, as after an edit of an
        input: the steps up to k are recomputed at once with the new mask.
        A slot no step reads (any slot under eq1; slot 0 of an LSTMN without
        its zero slot) changes no step, and none is dropped for it.
        """
        new = knockout_slots(slots)
        if new and not supports_knockout(self.model):
            raise TypeError(
                f"{type(self.model).__name__} does not support knockout: its step_record "
                "takes no hidden= mask (see attn_widget.core.StepModel)"
            )
        changed = [i for i in set(new) ^ set(self._knockout) if _is_read(self.model, i)]
        first = min(changed, default=self.frontier)  # the first step that reads a change
        affected = first < self.frontier
        if affected and 0 < first < self.k and self.weights_changed():
            self._refuse_stale_weights()  # before anything changes
        self._knockout = new
        if affected:
            k = self.k
            self.truncate(first)
            self.compute(k)
            self.k = k

    def _hidden_at(self, t: int) -> Tensor:
        """The mask step t reads, (t+1,) bool (True at the hidden slots among 0 … t)."""
        slots = [i for i in self._knockout if i <= t]
        hidden = torch.zeros(t + 1, dtype=torch.bool, device=self.x.device)
        hidden[slots] = True
        return hidden

    def step(self, x_next: Tensor | None = None) -> StepRecord:
        """Advance to position k+1 and return step k.

        Args:
            x_next: optional new x_{k+1}, shape (D,).  It replaces the stored
                input (or extends the sequence at the end) and discards the
                steps after position k, which depended on the old input.
        """
        if x_next is not None:
            x_next = self.check_input(x_next)
            if self.k > 0 and self.weights_changed():
                self._refuse_stale_weights()  # before anything changes
            self.truncate(self.k)
            if self.k < self.T:
                self.x = self.x.clone()
                self.x[self.k] = x_next
            else:
                self.x = torch.cat([self.x, x_next[None]], dim=0)
        elif self.k >= self.T:
            raise ValueError(
                f"cannot step past the end: position k = {self.k} already read all "
                f"T = {self.T} inputs; pass the next input as step(x_next)"
            )
        if self.k == self.frontier:
            self._compute_next()
        self.k += 1
        return self.steps[self.k - 1]

    def check_input(self, x_next) -> Tensor:
        """x_next checked as this model's input: a finite float tensor of shape (D,).

        Raises the same TypeError/ValueError as ``step(x_next)``, before anything moves.
        """
        return check_vector(x_next, self.model)

    def back(self) -> StepRecord | None:
        """Move to position k-1 (no-op at 0); return the step shown there."""
        self.k = max(0, self.k - 1)
        return self.current

    def goto(self, k: int) -> StepRecord | None:
        """Move to position k (0 … T), computing any steps not yet run."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"goto expects an int position, got {type(k).__name__}")
        k = int(k)  # numpy and torch integers too
        if not 0 <= k <= self.T:
            raise ValueError(f"goto position must be in 0 … T = {self.T}, got {k}")
        self.compute(k)
        self.k = k
        return self.current

    def compute(self, n: int) -> None:
        """Make sure steps 0 … n-1 are computed (n is clamped to T), without moving."""
        while self.frontier < min(n, self.T):
            self._compute_next()

    def reset(self) -> None:
        """Back to position 0.  Computed steps stay cached."""
        self.k = 0

    def truncate(self, n: int) -> None:
        """Forget the steps from step n on (after an edit of x_{n+1} or of the weights)."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"truncate expects a step count n ≥ 0, got {n!r}")
        n = int(n)
        del self.steps[n:]
        self.k = min(self.k, n)
        if n == 0:
            self._cache = None  # step 0 builds a new one: let go of its (T+1)-row buffers

    def set_inputs(self, x: Tensor) -> None:
        """Replace the whole sequence (T, D); forgets every step and returns to position 0."""
        x, _ = check_sequence(x, self.model, batched_ok=False)
        self.x = x[0].detach().clone()
        self.truncate(0)

    def trace(self):
        """The computed steps as a trace (T = frontier), like ``model(x)``: a
        :class:`Trace`, or an :class:`~attn_widget.core.LSTMNTrace` for an LSTMN."""
        return self.model.trace_of_steps(self.steps, self.x)

    def _refuse_stale_weights(self) -> None:
        changed = self._watch.changes() if self._watch is not None else []
        raise WeightsChangedError(
            f"the model's weights changed after step 0 of this sequence "
            f"({', '.join(changed) or 'parameters added or removed'}); steps 0 … "
            f"{self.frontier - 1} used the old ones.  Call truncate(0) to recompute every "
            "step with the new weights (the widget does this by itself)"
        )

    def _check_inputs_fit_model(self) -> None:
        param = next(self.model.parameters())
        if self.x.dtype != param.dtype or self.x.device != param.device:
            raise TypeError(
                f"the stepper's inputs are {self.x.dtype} on {self.x.device} but the model "
                f"is now {param.dtype} on {param.device}; give the inputs again with "
                "set_inputs(x) in the model's dtype and device"
            )

    def weights_changed(self) -> bool:
        """True when the model's weights changed since step 0 of the computed steps."""
        return self.frontier > 0 and self._watch is not None and self._watch.changed()

    def _compute_next(self) -> None:
        t = self.frontier
        if t > 0 and self.weights_changed():
            self._refuse_stale_weights()
        with torch.no_grad():
            if t == 0:  # a fresh start reads the weights as they are now
                check_weights_finite(self.model)
                self._check_inputs_fit_model()
                self._watch = WeightWatch(self.model)  # the model as it is now
                self._cache = self.model.new_cache(self.x, capacity=max(16, self.T + 1))
            hidden = self._hidden_at(t) if self._knockout and self._knockout[0] <= t else None
            if hidden is None:  # so that a model without knockout still steps
                step = self.model.step_record(t, self.x[t], self._cache)
            else:
                step = self.model.step_record(t, self.x[t], self._cache, hidden=hidden)
        # h is bounded (tanh, or o ⊙ tanh), so one sum finds a NaN: cheaper than isfinite
        if math.isnan(float(step.h.sum())):
            raise ValueError(
                f"step {t} produced NaN or Inf from finite inputs and weights: the weights "
                "are too large for float arithmetic (the scores overflow)"
            )
        self.steps.append(step)

    def h_at(self, i: int) -> Tensor:
        """h_i for a computed position i (h_0 = 0)."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"h_at expects an int position, got {type(i).__name__}")
        if not 0 <= i <= self.frontier:
            raise ValueError(f"h_at position must be in 0 … frontier = {self.frontier}, got {i}")
        if i == 0:
            return self.x.new_zeros(self.model.hidden_size)
        return self.steps[i - 1].h


class WeightsChangedError(RuntimeError):
    """A stepper was asked for a new step after the model's weights changed."""


def _parameter_slots(model: nn.Module) -> list[tuple[str, dict, str]]:
    """Where each submodule and parameter lives: (its name, the dict that holds
    it — a module's ``_modules`` or ``_parameters`` —, its key there)."""
    slots = []
    for prefix, module in model.named_modules():
        # torch has no public name for where it keeps a module's children and
        # parameters, and a replacement is seen only there
        for store in (module._modules, module._parameters):  # noqa: SLF001
            for key, value in store.items():
                if value is not None:
                    slots.append((f"{prefix}.{key}" if prefix else key, store, key))
    return slots


def _weight_stamp(slots: list[tuple[str, dict, str]]) -> tuple:
    """For each slot :func:`_parameter_slots` found, what is there now: a
    submodule's identity, or a parameter's identity, storage, dtype, shape and
    in-place version counter.  Reading the slots found at step 0 costs far less
    than walking the modules at every step.  A submodule or parameter replaced
    (``model.A = nn.Linear(…)``), a parameter edited in place or moved
    (``.double()``, ``.to()``) changes the stamp."""
    stamp = []
    for name, store, key in slots:
        value = store.get(key)
        if isinstance(value, Tensor):
            p = value
            version = p._version  # noqa: SLF001
            stamp.append((name, id(p), p.data_ptr(), p.dtype, tuple(p.shape), version))
        else:
            stamp.append((name, id(value)))
    return tuple(stamp)


class WeightWatch:
    """Tells whether a module's weights changed since the watch was made.

    It reads the slots the module's submodules and parameters lived in when it
    was made: a submodule replaced, a parameter replaced, moved (``.double()``,
    ``.to()``) or edited in place (an optimiser step) changes what it reads.  It
    sees every change made through the parameter itself; writes through
    ``param.data`` bypass autograd's counter and are not seen.  A watch never
    changes: :meth:`renewed` gives one that starts from the weights as they
    are now.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.slots = _parameter_slots(module)
        self.stamp = _weight_stamp(self.slots)

    def changed(self) -> bool:
        return _weight_stamp(self.slots) != self.stamp

    def changes(self) -> list[str]:
        """The names of the submodules and parameters that changed."""
        now = _weight_stamp(self.slots)
        return [name for (name, *a), (_, *b) in zip(now, self.stamp, strict=True) if a != b]

    def renewed(self) -> WeightWatch:
        return WeightWatch(self.module)


def alpha_of_steps(steps, like: Tensor) -> Tensor:
    """The weights of steps 0 … n-1 as a trace holds them: (n, n+1), row t holding
    α_{t,0 … t} and zeros for i > t."""
    alpha = like.new_zeros(len(steps), len(steps) + 1)
    for s in steps:
        alpha[s.t, : s.t + 1] = s.alpha
    return alpha


def last_states(h: Tensor, lengths: Tensor | None) -> Tensor:
    """h at each sequence's own end: h[..., L, :] for lengths L, or the last slot."""
    if lengths is None:
        return h[..., -1, :]
    index = lengths.to(h.device).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
    return h.gather(1, index).squeeze(1)  # (B, H)
