"""The cache of past states a step of ``SelfAttentionRNN`` reads (docs/design.md §1)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

#: Values a step's tanh must have for ``PastStates.tanh`` to take 2·σ(2a) − 1 (on CPU).
SIGMOID_TANH_MIN = 2048


def reuse(spare: Tensor | None, like: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``spare`` if it can serve as an empty (uninitialised) tensor of ``shape`` like
    ``like`` (dtype, device, and inference mode: an inference tensor cannot be written
    outside it), else a new one.  A run that reuses its last run's scratch pays no page
    faults for it (docs/design.md §1, "Scratch")."""
    if (
        spare is not None
        and spare.shape == shape
        and spare.dtype == like.dtype
        and spare.device == like.device
        and spare.is_inference() == torch.is_inference_mode_enabled()
    ):
        return spare
    return like.new_empty(shape)


class PastStates:
    """Past states h_0 … h_n with all a later step reads of them, each computed once.

    Two layouts, one chosen per run (docs/design.md §1, "The fold"):

    - **keyed** (additive, and dot or scaled dot with d_k < H/2):

          states  (B, cap, H)   h_i
          keys    (B, cap, d)   k_i
          proj    (cap, B, P)   [k_i; q_i; A_h h_i]

    - **folded** (dot and scaled dot with d_k ≥ H/2): W_K moves into the query,

          score_{t,i} = s·(W_K h_i)·(W_Q h_t) = h_i · u_t,   u_t = F h_t,   F = s·W_Kᵀ W_Q

      so the keys are the states themselves and there is no key cache:

          states  (B, cap, H)   h_i          (read by both attention products)
          proj    (cap, B, P)   [u_i; A_h h_i]

    ``proj`` is one matmul of h_i with the stacked weights, done when h_i is
    born: no state is ever projected twice.  eq1 keeps only A_h h_i, eq3 no
    A_h h_i.  ``proj`` is time-major so the matmul writes its slot directly;
    the states and keys, which every later step reads whole, are kept
    batch-major, so each sequence's history is one contiguous block (a
    time-major history, strided by B rows, read 1.4× slower at T = 1024 when
    tried).

    The cache also keeps the weights as they were when it was built, split by
    the blocks of z = [h_t; x_{t+1}; c_t]: a sequence is computed with one set
    of weights from its step 0 on.
    """

    def __init__(
        self,
        columns: dict,
        hidden: int,
        batch: int,
        capacity: int,
        like: Tensor,
        A_weight,
        A_bias,
        kq_weight,
        align=None,
        fold: bool = False,
        spare: Tensor | None = None,
    ):
        self.columns = columns
        self.set_weights(A_weight, A_bias)
        self.align, self.folded = align, fold
        self.fold_weight = None  # F (H, H), folded only
        if kq_weight is None:
            blocks, self.key_size, self.query_size = [], 0, 0
        elif fold:
            self.fold_weight = align.fold_weight(kq_weight)
            blocks, self.key_size, self.query_size = [self.fold_weight], 0, hidden
        else:
            d = kq_weight.shape[0] // 2
            blocks, self.key_size, self.query_size = [kq_weight], d, d
        if "h" in columns:
            blocks.append(A_weight[:, columns["h"]])
        self.reads_h, self.attends = "h" in columns, "c" in columns
        self.proj_weight_t = torch.cat(blocks).t().contiguous()  # (H, P)
        # Slots are written before they are read, so the buffers start empty.
        self.states = like.new_empty(batch, capacity, hidden)  # (B, cap, H)
        self.keys = like.new_empty(batch, capacity, self.key_size)  # (B, cap, d); keyed
        self.proj = reuse(
            spare, like, (capacity, batch, self.proj_weight_t.shape[1])
        )  # (cap, B, P)
        self.make_views()
        self.prefilled = False  # ``prefill`` turns it on
        self.tanh_by_sigmoid = (  # float32/64 only: in half precision 2σ(2a) − 1 loses small a
            like.device.type == "cpu"
            and like.dtype in (torch.float32, torch.float64)
            and batch * hidden >= SIGMOID_TANH_MIN
        )
        self.minus_one = like.new_full((), -1.0)  # a tensor: a Python -1 costs a conversion
        # h_0 = 0, so its projections are 0 for every align here; computed, not assumed.
        self.write(0, like.new_zeros(batch, hidden))

    def set_weights(self, A_weight: Tensor, A_bias: Tensor) -> None:
        """b and the blocks of A a step reads, as views of ``A_weight`` (H, |z|) (a
        doubled A in ``prefill`` keeps A's strides: no contiguous copies)."""
        columns = self.columns
        self.A_weight, self.bias = A_weight, A_bias  # (H, |z|), (H,)
        self.A_x = A_weight[:, columns["x"]]  # (H, D)
        self.A_c_t = A_weight[:, columns["c"]].t() if "c" in columns else None  # (H, H)

    @property
    def capacity(self) -> int:
        return self.states.shape[1]

    def make_views(self) -> None:
        """Views a step reads, made once per buffer rather than once per step:
        the loop's own overhead is a large part of a step at these sizes."""
        k, q = self.key_size, self.key_size + self.query_size
        self.state_rows = self.states.unbind(1)  # h_i, (B, H) each
        self.proj_rows = self.proj.unbind(0)  # [k_i; q_i; A_h h_i] or [u_i; A_h h_i], (B, P)
        self._state_part_rows = None  # the stepper's alone: made on first use
        self.queries = self.proj[:, :, k:q].transpose(0, 1)  # q_i or u_i, (B, cap, d or H)
        self.query_rows = self.proj[:, :, None, k:q].unbind(0)  # q_i or u_i, (B, 1, ·) each
        self.states_by_column = self.states.transpose(1, 2)  # (B, H, cap): h_i as columns
        if k:
            self.key_rows = self.keys.unbind(1)  # k_i, (B, d) each
            self.projected_key_rows = self.proj[:, :, :k].unbind(0)  # k_i, (B, d) each

    @property
    def state_part_rows(self) -> tuple[Tensor, ...]:
        """A_h h_i, (B, H) each, for a step that adds it to ``pre`` itself (the stepper's;
        after ``prefill`` the projection's matmul adds it)."""
        if self._state_part_rows is None:
            q = self.key_size + self.query_size
            self._state_part_rows = self.proj[:, :, q:].unbind(0)
        return self._state_part_rows

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` states (the stepper's sequence can grow)."""
        if capacity <= self.capacity:
            return
        for name, dim in (("states", 1), ("keys", 1), ("proj", 0)):
            old = getattr(self, name)
            shape = list(old.shape)
            shape[dim] = capacity
            new = old.new_empty(shape)
            new.narrow(dim, 0, old.shape[dim]).copy_(old)
            setattr(self, name, new)
        self.make_views()

    def prefill(self, x: Tensor) -> Tensor:
        """The batched run's pre-activations, laid where the matmul of ``write`` adds
        A_h h_t: for x (T, B, D), returns pre (T, B, H), whose row t holds
        A_x·x_{t+1} + b and, once ``write(t, h_t)`` has run, + A_h h_t.

        Under eq1/eq4 pre_t is the A_h h_t block of ``proj`` row t, pre-filled with
        the input part (one matmul for all steps) and the rest of ``proj`` zeroed;
        from then on ``write`` accumulates (addmm with β = 1) instead of overwriting,
        so one matmul gives a state's [k; q; ·] or [u; ·] and adds A_h h_t to pre_t,
        with no separate add, and tanh writes h_{t+1} into its slot with no copy:
        two aten calls fewer a step (measured at 1 thread against nn.LSTM, B32 T128
        H128, shared box: 2.83× → 2.69× of CPU time at load 9.5, 2.42× → 2.41× at
        load 3.6, i.e. at most a few %).  Under
        eq3 there is no A_h block, and pre_t is a row of its own buffer."""
        T, B, D = x.shape
        q = self.key_size + self.query_size
        self.proj[:, :, :q].zero_()
        self.prefilled = True
        if self.tanh_by_sigmoid:  # pre holds 2a: tanh(a) = 2σ(2a) − 1 needs no doubling
            self.set_weights(self.A_weight * 2, self.bias * 2)  # × 2 keeps A's strides
            self.proj_weight_t[:, q:].mul_(2)  # the A_h block (a copy the cache owns)
        if not self.reads_h:
            self.write(0, self.state_rows[0], stored=True)
            return self.input_part(x)  # (T, B, H)
        pre = self.proj[:T, :, q:]  # (T, B, H), rows strided by P: one matmul writes it
        torch.addmm(self.bias, x.reshape(T * B, D), self.A_x.t(), out=pre.view(T * B, -1))
        self.proj[T:, :, q:].zero_()
        self.write(0, self.state_rows[0], stored=True)  # h_0 = 0: pre_0 stays the input part
        return pre

    def write(self, i: int, h: Tensor, stored: bool = False) -> None:
        """Store h_i (B, H) and compute its [k_i; q_i; A_h h_i] or [u_i; A_h h_i] (added
        into the row after ``prefill``).  ``stored``: h already is the slot itself
        (the batched run's tanh writes there); otherwise h comes contiguous and is
        copied in (the stepper's records must not share the cache's slots)."""
        if not stored:
            self.state_rows[i].copy_(h)
        if self.prefilled:
            self.proj_rows[i].addmm_(h, self.proj_weight_t)
        else:
            torch.mm(h, self.proj_weight_t, out=self.proj_rows[i])
        if self.key_size:
            self.key_rows[i].copy_(self.projected_key_rows[i])

    def tanh(self, pre: Tensor, out: Tensor | None = None) -> Tensor:
        """h = tanh(pre), for a step's pre-activation pre (B, H), written to ``out`` if given.

        On CPU, for a batch of at least ``SIGMOID_TANH_MIN`` values, as the identity

            tanh(a) = 2·σ(2a) − 1

        in three aten calls: torch's float tanh there is several times slower than its
        sigmoid (B32 H128: 14 µs against 7 µs for the three calls, a tenth of a
        step at two threads; below ~1000 values tanh is the faster).  The function is
        the same; the rounding is absolute, not relative: within 2e-7 of tanh in
        float32 and 4e-16 in float64, so a tiny a gives h = 0 rather than a.

        After ``prefill`` on this path the batched run's weights and bias are doubled
        (A and b scaled by 2, which is exact in binary floating point), so ``pre``
        already holds 2a and σ is taken in place: two calls.  Doubling is exact, but a
        BLAS may round A's matmul and 2A's differently in the last place (seen in
        float64 with MKL), so the path is held to a tolerance, never bit for bit."""
        if not self.tanh_by_sigmoid:
            return torch.tanh(pre, out=out)
        if self.prefilled:  # pre holds 2a already, and is this step's own row
            s = pre.sigmoid_()
        else:
            s = torch.add(pre, pre)
            s.sigmoid_()
        return torch.add(self.minus_one, s, alpha=2, out=out)

    def score(self, t: int) -> Tensor:
        """score_{t,i} = align(h_i, h_t) for i = 0 … t, shape (B, 1, t+1)."""
        n = t + 1
        if self.folded:  # h_i · u_t: the states are the keys, the scale is in F
            return torch.bmm(self.query_rows[t], self.states_by_column.narrow(2, 0, n))
        return self.align.score_rows(self.keys.narrow(1, 0, n), self.query_rows[t])

    def input_part(self, x: Tensor) -> Tensor:
        """A_x·x + b for inputs x (…, D): the part of A·z + b that needs no state.
        The batched run computes it for every step at once, before the loop."""
        return F.linear(x, self.A_x, self.bias)  # (…, H)
