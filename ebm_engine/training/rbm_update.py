"""One CD-k / PCD-k minibatch update of an ``RBM`` as a few in-place tensor ops on packed buffers.

At the sizes an RBM is usually explored with (64-784 visible units, 10-100 rows per batch) the
cost of an update is the fixed cost per tensor operation, not arithmetic. So the update is laid
out to need as few operations as possible:

- the parameters are one packed tensor ``P = [[W, b], [cᵀ, 0]]`` (``RBM.packed``) and every row of
  visible and hidden values carries a constant-1 unit, so pre-activations need no bias adds and the
  statistics of ``W``, ``b`` and ``c`` come out of one outer product;
- the negative rows (first) and the positive rows (after them) share one buffer, so both phases'
  hidden probabilities are one matrix product, and the negative rows' constant unit holds
  ``-n_pos / n_neg``: ``P += lr / (n_pos·T) · Vᵀ H`` is then the whole CD gradient step;
- a Bernoulli draw with ``p = σ(a)`` is ``L < a`` for a logistic variate ``L = logit(U)``
  (``P(L < a) = P(U < σ(a)) = σ(a)``): a unit that is only sampled needs its pre-activation and
  no sigmoid. The variates are drawn for many updates at once (on a second thread when allowed).

The algorithm is ``rbm_trainer``'s. A persistent chain's state is its visible sample; each update
draws its hidden units afresh with the current parameters (Tieleman 2008). Continuing from the
hidden sample drawn before the previous update instead (as scikit-learn's ``BernoulliRBM`` does)
saves a product but measurably lowers the test log-likelihood (by about 4 nats with 256 hidden
units on digits).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch


class ChainBuffers:
    """Rows of one update: ``n_neg`` negative rows first, then up to ``max_pos`` positive rows.

    ``visible`` (rows, n_v + 1) and ``hidden`` (rows, n_h + 1) end in the constant unit;
    ``h_sample`` (n_neg, n_h + 1) is the chains' current hidden sample; ``v_logits`` the
    pre-activations (divided by T) their visible sample was drawn from, ``σ(v_logits)`` its
    probabilities. ``negatives`` is the visible sample of the chains (their state). Every view an
    update needs is made once (per batch size), not per update.
    """

    def __init__(self, n_neg: int, max_pos: int, n_visible: int, n_hidden: int,
                 device: torch.device, dtype: torch.dtype):
        self.n_neg, self.max_pos = n_neg, max_pos
        self.n_visible, self.n_hidden = n_visible, n_hidden
        rows = n_neg + max_pos
        self.visible = torch.zeros(rows, n_visible + 1, device=device, dtype=dtype)
        self.visible[:, n_visible] = 1.0
        self.hidden = torch.zeros(rows, n_hidden + 1, device=device, dtype=dtype)
        self.h_sample = torch.zeros(n_neg, n_hidden + 1, device=device, dtype=dtype)
        self.h_sample[:, n_hidden] = 1.0
        self.v_logits = torch.zeros(n_neg, n_visible, device=device, dtype=dtype)
        self.negatives = self.visible[:n_neg, :n_visible]
        self.neg_rows = self.visible[:n_neg]
        self.neg_hidden = self.hidden[:n_neg, :n_hidden]
        self.h_sample_units = self.h_sample[:, :n_hidden]
        self.n_pos = 0
        self._views_for: dict[int, tuple] = {}
        self.set_positive_rows(max_pos)

    def set_positive_rows(self, n_pos: int) -> None:
        """Prepare for ``n_pos`` positive rows: views, and the constant hidden unit weighted
        ``-n_pos / n_neg`` on negative rows and 1 on positive ones. The views of each row count
        are made once (an epoch's last, shorter batch switches back and forth)."""
        if n_pos == self.n_pos:
            return
        if not 1 <= n_pos <= self.max_pos:
            raise ValueError(f"a batch of {n_pos} rows does not fit buffers for {self.max_pos}")
        n_neg, n_h = self.n_neg, self.n_hidden
        views = self._views_for.get(n_pos)
        if views is None:
            views = self._views_for[n_pos] = self._make_views(n_pos)
        (self.pos_rows, self.positives, self.positive_hidden, self.all_rows, self.all_rows_t,
         self.all_hidden, self.all_hidden_units, self.neg_scale) = views
        self.hidden[:n_neg, n_h] = -n_pos / n_neg
        self.hidden[n_neg:, n_h] = 1.0
        self.n_pos = n_pos

    def _make_views(self, n_pos: int) -> tuple:
        n_neg, n_v, n_h = self.n_neg, self.n_visible, self.n_hidden
        rows = n_neg + n_pos
        all_rows = self.visible[:rows]
        # a 0-dim tensor: in-place products with it skip the per-call wrapping of a Python number
        neg_scale = torch.tensor(-n_pos / n_neg, device=self.hidden.device, dtype=self.hidden.dtype)
        return (self.visible[n_neg:rows], self.visible[n_neg:rows, :n_v], self.hidden[n_neg:rows, :n_h],
                all_rows, all_rows.t(), self.hidden[:rows], self.hidden[:rows, :n_h], neg_scale)


_FILLER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ebm-rbm-logistic")


class _Chunk:
    """Logistic variates for ``steps`` updates and their per-update views."""

    def __init__(self, steps: int, k: int, n: int, n_visible: int, n_hidden: int, device, dtype):
        self.visible = torch.empty(steps, k, n, n_visible, device=device, dtype=dtype)
        self.hidden = torch.empty(steps, k, n, n_hidden, device=device, dtype=dtype)
        self.blocks = [(tuple(v.unbind(0)), tuple(h.unbind(0)))
                       for v, h in zip(self.visible.unbind(0), self.hidden.unbind(0))]

    def fill(self, generator: torch.Generator) -> None:
        self.start_state = generator.get_state()   # to draw the same chunk again after a resume
        self.visible.uniform_(generator=generator).logit_()
        self.hidden.uniform_(generator=generator).logit_()


class LogisticStream:
    """Standard logistic variates ``logit(U)``, ``U ~ U(0, 1)``, for the Bernoulli draws of many
    updates, drawn in one call per chunk into reused buffers (fresh memory for every chunk would
    cost as much as drawing the numbers).

    The stream has its own generator, seeded once from ``generator``: the numbers do not depend
    on how they are produced. With ``prefetch`` (on the CPU, when more than one thread may be
    used) the next chunk is drawn on a background thread while the current one is consumed.
    """

    CHUNK_FLOATS = 1 << 20

    def __init__(self, generator: torch.Generator | None):
        device = generator.device if generator is not None else torch.device("cpu")
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=device))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.prefetch = False
        self._key: tuple | None = None
        self._pending: Future | None = None
        self._next = self._steps = 0
        self._resume_at: int | None = None

    def _settle(self) -> None:
        """Wait for a background fill, so the generator and the buffers are ours again."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def take(self, k: int, n: int, n_visible: int, n_hidden: int, device: torch.device, dtype: torch.dtype
             ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """Fresh independent blocks of logistic variates for one update: ``k`` of ``(n, n_visible)``
        and ``k`` of ``(n, n_hidden)`` (views, made for the whole chunk at once)."""
        key = (k, n, n_visible, n_hidden, device, dtype, self.prefetch)
        if self._key != key:
            self._settle()
            steps = max(1, min(512, self.CHUNK_FLOATS // (k * n * (n_visible + n_hidden))))
            self._current = _Chunk(steps, k, n, n_visible, n_hidden, device, dtype)
            drawn_ahead = self.prefetch and device.type == "cpu"
            self._spare = _Chunk(steps, k, n, n_visible, n_hidden, device, dtype) if drawn_ahead else None
            self._key, self._next, self._steps = key, steps, steps
        if self._next >= self._steps:
            if self._spare is None:
                self._current.fill(self.generator)
            else:
                if self._pending is None:            # first chunk: nothing was drawn ahead
                    self._spare.fill(self.generator)
                self._settle()
                self._current, self._spare = self._spare, self._current
                self._pending = _FILLER.submit(self._spare.fill, self.generator)
            self._next, self._resume_at = self._resume_at or 0, None
        block = self._current.blocks[self._next]
        self._next += 1
        return block


    def state(self) -> dict[str, torch.Tensor]:
        """Where the stream is: the generator state the current chunk was drawn from and the next
        block's index in it (the chunk itself, up to 4 MB, is drawn again on resume)."""
        if self._key is None:
            return {"generator": self.generator.get_state(), "next": torch.tensor(-1)}
        return {"generator": self._current.start_state, "next": torch.tensor(self._next)}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from ``state()``: the next ``take`` redraws the current chunk and resumes inside it."""
        self._settle()
        self.generator.set_state(state["generator"].to(torch.uint8).cpu())
        self._key = None
        self._resume_at = int(state["next"]) if int(state["next"]) >= 0 else None


class PackedRBMUpdate:
    """CD-k / PCD-k updates of one ``RBM`` on ``ChainBuffers`` (see the module docstring).

    Call under ``torch.no_grad()`` when the RBM's parameters require gradients.
    """

    def __init__(self, generator: torch.Generator | None):
        self.logistic = LogisticStream(generator)
        self._setup_key: tuple | None = None

    def _setup(self, packed: torch.Tensor, temperature: float) -> tuple:
        """``(P[:, :n_h], P[:n_v].T, 1/T or None, device, dtype)`` for ``packed``, made once per
        parameter tensor and temperature: visible rows → hidden units, hidden rows → visible
        units, and ``1/T`` as a 0-dim tensor (``None`` at ``T = 1``)."""
        key = (packed, temperature)
        if self._setup_key is None or self._setup_key[0] is not packed or self._setup_key[1] != temperature:
            n_v, n_h = packed.shape[0] - 1, packed.shape[1] - 1
            inv_t = (None if temperature == 1.0 else
                     torch.tensor(1.0 / temperature, device=packed.device, dtype=packed.dtype))
            self._setup_key = key
            self._set_up = (packed[:, :n_h], packed[:n_v].t(), inv_t, packed.device, packed.dtype)
        return self._set_up

    @staticmethod
    def _logits(out: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor, inv_t: torch.Tensor | None
                ) -> torch.Tensor:
        """Pre-activations divided by T, written to ``out``."""
        torch.mm(rows, weights, out=out)
        if inv_t is not None:
            out.mul_(inv_t)
        return out

    def negatives(self, packed: torch.Tensor, b: ChainBuffers, data: torch.Tensor, index: torch.Tensor,
                  n_pos: int, k: int, temperature: float, persistent: bool) -> None:
        """Fill the buffers for one update: the ``n_pos`` positive rows ``data[index]`` (``data``
        carries the constant unit) with ``p(h | v0)``, and ``k`` sweeps ``h ~ p(h | v)``,
        ``v ~ p(v | h)`` of the negative chains, started at the data (CD, which needs
        ``b.n_neg == n_pos``) or at the chains' visible sample (PCD), with ``p(h | v_k)``.
        """
        if n_pos != b.n_pos:
            b.set_positive_rows(n_pos)
        torch.index_select(data, 0, index, out=b.pos_rows)
        to_hidden, to_visible, inv_t, device, dtype = self._setup(packed, temperature)
        logits = self._logits
        l_vis, l_hid = self.logistic.take(k, b.n_neg, b.n_visible, b.n_hidden, device, dtype)
        neg_hidden, neg_rows, h_sample_units = b.neg_hidden, b.neg_rows, b.h_sample_units
        if persistent:   # h's pre-activations for the chains and v0 in one product
            logits(b.all_hidden_units, b.all_rows, to_hidden, inv_t)
            torch.lt(l_hid[0], neg_hidden, out=h_sample_units)
        else:
            if b.n_neg != n_pos:
                raise ValueError(f"CD needs one negative row per positive row, got {b.n_neg} and {n_pos}")
            torch.lt(l_hid[0], logits(b.positive_hidden, b.pos_rows, to_hidden, inv_t), out=h_sample_units)
        b.positive_hidden.sigmoid_()
        for sweep in range(k):
            torch.lt(l_vis[sweep], logits(b.v_logits, b.h_sample, to_visible, inv_t), out=b.negatives)
            if sweep < k - 1:
                torch.lt(l_hid[sweep + 1], logits(neg_hidden, neg_rows, to_hidden, inv_t), out=h_sample_units)
        logits(neg_hidden, neg_rows, to_hidden, inv_t).sigmoid_()

    @staticmethod
    def apply(packed: torch.Tensor, increment: torch.Tensor, b: ChainBuffers, lr: float,
              temperature: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """``Δ ← momentum·Δ + lr·(grad - weight_decay·W)``; ``P += Δ`` (decay on ``W`` only).

        ``grad`` is ``(v0ᵀ p(h|v0) / n_pos - v_kᵀ p(h|v_k) / n_neg) / T`` and alike for the biases.
        Uses the buffers filled by ``negatives`` (their negative hidden rows are rescaled in place).
        Without momentum and decay ``Δ`` is neither used nor kept.
        """
        b.neg_hidden.mul_(b.neg_scale)
        alpha = lr / (b.n_pos * temperature)
        if momentum == 0.0 and weight_decay == 0.0:
            packed.addmm_(b.all_rows_t, b.all_hidden, alpha=alpha)
            return
        increment.mul_(momentum).addmm_(b.all_rows_t, b.all_hidden, alpha=alpha)
        if weight_decay:
            n_v, n_h = b.n_visible, b.n_hidden
            increment[:n_v, :n_h].add_(packed[:n_v, :n_h], alpha=-lr * weight_decay)
        packed.add_(increment)
