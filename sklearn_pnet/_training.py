"""The joint training loop of a teacher and a student network.

The loss of a batch is ProjectionNet's (Ravi, 2017)::

    w1 * CE(teacher, y) + w2 * T**2 * CE(student / T, softmax(teacher / T))
                        + w3 * CE(student, y)

averaged over the batch with the sample weights. The distillation term does
not reach the teacher (its logits are detached): the teacher learns from the
labels alone and the student is pulled towards it, not the reverse. The
``T**2`` factor keeps that term's gradient scale independent of the
temperature (Hinton et al., 2015).
"""

# SPDX-License-Identifier: BSD-3-Clause

import contextvars
import copy
import math
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning

from ._inference import openmp_threads, training_thread_cap
from ._torch_common import sparse_parameters, to_tensor, training_device
from ._torch_pnet import by_hand_applies, student_loss_by_hand

try:  # built at install time (setup.py); without them, torch's operations
    # compute the same numbers, more slowly.
    from ._kernels import adam_moments, adam_update
except ImportError:
    adam_moments = adam_update = None
try:  # the same build, where the C compiler has vector extensions
    from ._kernels import student_epoch
except ImportError:
    student_epoch = None

# The compiled epoch's threads share each step's work, wait without
# spinning for long, and give the same numbers whatever their number (see
# _student_epoch.c): unlike torch's, they may take every core OpenMP would.
# A batch of 200 rows has 13 spans of lanes and 16 blocks of bits to share:
# beyond four threads each would have under four.
MAX_EPOCH_THREADS = 4
# Threads of the compiled epoch in this fit (training_threads sets it).
_EPOCH_THREADS = contextvars.ContextVar("sklearn_pnet_epoch_threads", default=1)


@dataclass
class TrainingData:
    """What one side of the split (train or validation) holds."""

    X: object  # dense ndarray or CSR matrix: the teacher's input
    bits: np.ndarray  # (n_samples, n_bits) uint8, or None if the student projects X
    y: np.ndarray  # (n_samples,) int64 class indices
    sample_weight: np.ndarray  # (n_samples,) float32
    # (n_samples, n_classes) float32 logits of a fitted scikit-learn teacher,
    # computed once before training; None with a torch teacher or none.
    teacher_logits: np.ndarray = None
    # Dense X as C-ordered float32, made once (see float32_rows).
    _float32_rows: np.ndarray = field(default=None, repr=False, compare=False)

    def __len__(self):
        return len(self.y)

    def subset(self, idx):
        bits = None if self.bits is None else self.bits[idx]
        logits = None if self.teacher_logits is None else self.teacher_logits[idx]
        return TrainingData(self.X[idx], bits, self.y[idx], self.sample_weight[idx], logits)

    def float32_rows(self):
        """Dense ``X`` as a C-ordered float32 array, converted at the first
        call only (the compiled epoch reads its rows at every batch)."""
        if self._float32_rows is None:
            self._float32_rows = np.ascontiguousarray(self.X, dtype=np.float32)
        return self._float32_rows

    def student_input(self, idx, device):
        """Precomputed bits as a tensor, or the raw rows for a student that
        projects them itself."""
        if self.bits is None:
            return self.X if idx is None else self.X[idx]
        bits = self.bits if idx is None else self.bits[idx]
        return torch.from_numpy(bits).to(device, torch.float32)


def _all_finite(tensor):
    """Whether every entry of ``tensor`` is finite.

    A NaN or an infinity makes the sum non-finite, so a finite sum settles
    it in one pass with no temporary: on the teacher's 130,107 x 256 first
    layer (20 Newsgroups) 3 ms against 57 ms for ``isfinite(t).all()``. A
    sum that overflows from finite entries is checked entry by entry.
    """
    return math.isfinite(tensor.sum().item()) or bool(torch.isfinite(tensor).all())


@contextmanager
def training_threads():
    """Train on one thread, or on what ``OMP_NUM_THREADS`` asks for
    (:func:`sklearn_pnet._inference.training_thread_cap`, which says why);
    the compiled epoch on as many as OpenMP would use, up to
    ``MAX_EPOCH_THREADS``.

    A limit set with ``threadpoolctl.threadpool_limits`` is respected too
    (torch reads it from OpenMP), and torch's own setting is restored
    afterwards.
    """
    threads = torch.get_num_threads()
    # Counted before torch's setting, which OpenMP's count follows; the CPUs
    # as the system counts them (joblib's count of physical cores runs
    # lscpu, 3 ms of a process's first digits fit, a twentieth of it).
    token = _EPOCH_THREADS.set(min(openmp_threads(only_physical_cores=False), MAX_EPOCH_THREADS))
    cap = training_thread_cap()
    if cap is not None:
        torch.set_num_threads(cap)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        _EPOCH_THREADS.reset(token)


@dataclass(frozen=True)
class TrainingSettings:
    """The estimator's settings that drive the loop, gathered once."""

    max_iter: int
    batch_size: int
    learning_rate_init: float
    n_iter_no_change: int
    tol: float
    shuffle: bool
    verbose: bool
    device: torch.device

    @classmethod
    def of(cls, estimator, n_samples):
        """Settings of a fitted-to-be ``estimator`` for ``n_samples``
        training samples ("auto" batches are ``min(200, n_samples)``)."""
        batch_size = estimator.batch_size
        return cls(
            max_iter=estimator.max_iter,
            batch_size=min(200, n_samples) if batch_size == "auto" else batch_size,
            learning_rate_init=estimator.learning_rate_init,
            n_iter_no_change=estimator.n_iter_no_change,
            tol=estimator.tol,
            shuffle=estimator.shuffle,
            verbose=bool(estimator.verbose),
            device=training_device(estimator.device),
        )


@dataclass
class TrainingHistory:
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    best_validation_score: float = None
    best_loss: float = np.inf
    n_iter: int = 0
    t: int = 0  # number of samples seen, as scikit-learn's MLP counts


class RowAdam:
    """Adam on the rows of a weight matrix that a batch used.

    For layers that keep ``batch_rows = (rows, used)``, ``used`` being the
    copy of ``weight[rows]`` that autograd saw (see
    :class:`~sklearn_pnet._torch_pnet.SparseLinear`): the moments and the
    weights of those rows only are updated, with the bias correction of the
    number of steps taken, as ``torch.optim.SparseAdam`` does, but from a
    dense gradient of the rows instead of a sparse tensor to coalesce.
    """

    def __init__(self, layers, lr, betas=(0.9, 0.999), eps=1e-8):
        self.layers, self.lr, self.betas, self.eps = layers, lr, betas, eps
        # Both moments of a row side by side, (n_rows, 2, n_out): one gather
        # and one scatter of a batch's rows instead of two of each.
        self.state = [
            layer.weight.new_zeros((layer.weight.shape[0], 2, *layer.weight.shape[1:]))
            for layer in layers
        ]
        self.n_steps = 0

    def zero_grad(self):
        # Nothing to zero: each forward pass makes a new copy of its rows,
        # whose gradient starts empty. (The rows of the batch just run must
        # stay: the trainer zeroes gradients between forward and backward.)
        pass

    @torch.no_grad()
    def step(self):
        self.n_steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr * (1 - beta2**self.n_steps) ** 0.5 / (1 - beta1**self.n_steps)
        for layer, moments in zip(self.layers, self.state):
            if layer.batch_rows is None or layer.batch_rows[1].grad is None:
                continue
            rows, used = layer.batch_rows
            grad = used.grad
            # index_select / index_copy_: several times faster than
            # indexing with a tensor of rows on the CPU.
            batch_moments = moments.index_select(0, rows)
            m, v = batch_moments[:, 0], batch_moments[:, 1]
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            moments.index_copy_(0, rows, batch_moments)
            step = m.div_(v.sqrt_().add_(self.eps)).mul_(-step_size)
            layer.weight.index_copy_(0, rows, step.add_(used.detach()))
            layer.batch_rows = None  # applied: never twice


class DenseAdam:
    """``torch.optim.Adam`` with its defaults (no weight decay, no AMSGrad),
    the same operations in the same order as its single-tensor path, which
    it takes for CPU tensors: the same numbers.

    Written out because ``torch.optim`` costs a short fit dearly: the first
    optimiser of a process imports ``torch._dynamo`` (1.4 s, more than a
    whole default fit on SMS spam), and the wrappers of each step cost
    about 50 us of a 1 ms step on TREC (``benchmarks/SPEED.md``, "Training
    steps"). Where the compiled kernels are built, a float32 CPU parameter's
    step runs in two compiled passes around torch's square root, rounded as
    torch's operations round (:func:`_compiled_step`): the same numbers,
    without seven passes and their Python calls (``SPEED.md``, "Eleventh
    session").
    """

    def __init__(self, param_groups, betas=(0.9, 0.999), eps=1e-8):
        self.groups = [(list(group["params"]), group["lr"]) for group in param_groups]
        self.betas, self.eps = betas, eps
        # Per parameter: [steps taken, first moment, second moment], made at
        # its first gradient. Torch counts the steps in a float32 tensor: the
        # same value up to 2**24 steps, and beyond, both bias corrections
        # are 1.0 either way; a Python int spares two torch calls a step.
        self.state = {}

    def state_of(self, param):
        """``param``'s state, made (no steps, zero moments) at the first
        call."""
        state = self.state.get(param)
        if state is None:
            state = self.state[param] = [
                0,
                torch.zeros_like(param, memory_format=torch.preserve_format),
                torch.zeros_like(param, memory_format=torch.preserve_format),
                None,  # the compiled step's buffer of square roots
            ]
        return state

    def learning_rate(self, param):
        """The learning rate of ``param``'s group."""
        return next(lr for params, lr in self.groups if any(p is param for p in params))

    def zero_grad(self):
        for params, _ in self.groups:
            for param in params:
                param.grad = None

    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        for params, lr in self.groups:
            for param in params:
                grad = param.grad
                if grad is None:
                    continue
                state = self.state_of(param)
                state[0] += 1
                step = float(state[0])
                _, exp_avg, exp_avg_sq, _ = state
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2**0.5
                if _compiled_step_applies(param, grad, beta1):
                    _compiled_step(
                        param, grad, state, self.betas, self.eps, bias_correction2_sqrt, step_size
                    )
                    continue
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
                param.addcdiv_(exp_avg, denom, value=-step_size)


def _compiled_step_applies(param, grad, beta1):
    """Whether the compiled kernels can take this parameter's Adam step:
    float32 contiguous CPU tensors, and the branch of torch's ``lerp``
    that they implement."""
    return (
        adam_moments is not None
        and 1 - beta1 < 0.5
        and param.dtype == grad.dtype == torch.float32
        and param.device.type == grad.device.type == "cpu"
        and not grad.is_sparse
        and param.is_contiguous()
        and grad.is_contiguous()
    )


def _compiled_step(param, grad, state, betas, eps, bias_correction2_sqrt, step_size):
    """:meth:`DenseAdam.step` on one parameter in two compiled passes around
    torch's square root, rounded as torch's operations round (see
    ``adam_moments`` in ``_kernels.c``): the same numbers, without seven
    passes over the tensor and their Python calls."""
    beta1, beta2 = betas
    _, exp_avg, exp_avg_sq, root = state
    n = param.numel()
    adam_moments(exp_avg.numpy(), exp_avg_sq.numpy(), grad.numpy(), n, 1 - beta1, beta2, 1 - beta2)
    # Torch's square root, not the C library's: they differ in the last bit
    # for about a fifth of float32 values on this build of torch. Into the
    # same buffer at every step: a new one of TREC's 58,368 weights each
    # time cost as much as the kernels.
    if root is None:
        root = state[3] = torch.empty_like(exp_avg)
    torch.sqrt(exp_avg_sq, out=root)
    # In place through numpy, which autograd's version counter does not
    # see: safe here, as no graph that saved the parameter outlives a step
    # (each batch builds its own after it).
    adam_update(
        param.detach().numpy(),
        exp_avg.numpy(),
        root.numpy(),
        n,
        bias_correction2_sqrt,
        eps,
        -step_size,
    )


def _row_sparse_layers(modules):
    return [m for module in modules for m in module.modules() if hasattr(m, "batch_rows")]


def _optimizers(modules, learning_rate):
    """Adam (:class:`DenseAdam`) for dense parameters, SparseAdam for those
    with sparse gradients, :class:`RowAdam` for layers that update the rows
    a batch used; a sub-module's ``lr_scale`` attribute multiplies its
    learning rate."""
    groups = {}  # (sparse, scale) -> parameters
    for module in modules:
        sparse_ids = {id(p) for p in sparse_parameters(module)}
        for sub in module.modules():
            scale = getattr(sub, "lr_scale", 1.0)
            for p in sub.parameters(recurse=False):
                if p.requires_grad:
                    groups.setdefault((id(p) in sparse_ids, scale), []).append(p)
    optimizers = []
    for sparse in (False, True):
        param_groups = [
            {"params": params, "lr": learning_rate * scale}
            for (is_sparse, scale), params in groups.items()
            if is_sparse == sparse
        ]
        if param_groups:
            if sparse:
                optimizers.append(torch.optim.SparseAdam(param_groups, lr=learning_rate))
            else:
                optimizers.append(DenseAdam(param_groups))
    layers = _row_sparse_layers(modules)
    if layers:
        optimizers.append(RowAdam(layers, learning_rate))
    return optimizers


def joint_loss(teacher_logits, student_logits, y, weight, loss_weights, temperature):
    """The weighted three-term loss of one batch (see the module docstring)."""
    w_teacher, w_distill, w_student = loss_weights
    per_sample = w_student * F.cross_entropy(student_logits, y, reduction="none")
    if teacher_logits is not None:
        if w_teacher:
            per_sample = per_sample + w_teacher * F.cross_entropy(
                teacher_logits, y, reduction="none"
            )
        if w_distill:
            soft_targets = F.softmax(teacher_logits.detach() / temperature, dim=1)
            log_student = F.log_softmax(student_logits / temperature, dim=1)
            distill = -(soft_targets * log_student).sum(dim=1) * temperature**2
            per_sample = per_sample + w_distill * distill
    return (per_sample * weight).sum() / weight.sum()


@dataclass(frozen=True)
class JointLoss:
    """:func:`joint_loss` with an estimator's weights of its three terms and
    its temperature: ``loss(teacher_logits, student_logits, y, weight)``.
    Without teacher logits it is ``loss_weights[2]`` times the student's
    cross-entropy, which :class:`Trainer` computes by hand for the default
    student."""

    loss_weights: tuple
    temperature: float = 1.0

    def __call__(self, teacher_logits, student_logits, y, weight):
        return joint_loss(
            teacher_logits, student_logits, y, weight, self.loss_weights, self.temperature
        )


# Cross-entropy of the student alone (no teacher term).
student_loss = JointLoss((0.0, 0.0, 1.0))


def magnitude_mask(weight, n_pruned):
    """A 0/1 mask of ``weight`` that zeroes exactly its ``n_pruned``
    entries of smallest magnitude.

    Ties are broken by position (the first in row-major order go first),
    so the count is exact and the mask the same on every run: a threshold
    on the magnitude would prune every weight tied at it, 466 of 640 tied
    weights at sparsity 0.5.
    """
    order = torch.argsort(weight.abs().flatten(), stable=True)
    mask = torch.ones(weight.numel(), dtype=weight.dtype, device=weight.device)
    mask[order[:n_pruned]] = 0
    return mask.view_as(weight)


def _weighted_accuracy(logits, y, weight):
    correct = (logits.argmax(dim=1) == y).float()
    return float((correct * weight).sum() / weight.sum())


def _progress(what, n, loss, teacher_acc, student_acc):
    """The start of a progress line (``verbose``)."""
    message = f"{what} {n}: loss {loss:.4f}, student accuracy {student_acc:.4f}"
    if teacher_acc is not None:
        message += f", teacher accuracy {teacher_acc:.4f}"
    return message


class Trainer:
    """Trains a student network, alongside a teacher if there is one.

    Parameters
    ----------
    teacher : torch.nn.Module or None
        Network on the raw features; None when no loss term needs it.
    student : torch.nn.Module
        The network that is kept; early stopping scores it.
    loss : callable
        ``loss(teacher_logits, student_logits, y, weight)`` of a batch, a
        scalar tensor (:func:`joint_loss`, :func:`student_loss`).
    settings : TrainingSettings
        Epochs, batches, optimiser and stopping rule.
    rng : numpy.random.RandomState
        Shuffles the samples.

    The seams: :meth:`step` trains on one batch, :meth:`fit` runs epochs
    under the stopping rule, and :meth:`prune` starts a post-training phase
    (magnitude pruning; a further :meth:`fit` fine-tunes what is left). The
    default student alone on dense rows takes its epochs' steps in one
    compiled call instead (:meth:`_compiled_epoch`).

    :meth:`fit` is where every training run goes through, so it is where
    two things are handled once for all:

    - an interrupt (Ctrl-C, ``KeyboardInterrupt``) stops training at the
      end of the current batch and keeps the weights learnt so far (the
      best epoch's with validation), with a warning, as scikit-learn's MLP
      and skorch do; later calls to :meth:`fit` train no more, so the
      estimator finishes its fit (compaction included) and predicts;
    - a non-finite loss or weight stops training with a ``ValueError``
      that names the epoch and the likely causes.
    """

    def __init__(self, teacher, student, loss, settings, rng):
        self.teacher = teacher
        self.student = student
        self.loss = loss
        self.settings = settings
        self.rng = rng
        # (parameter, 0/1 mask) pairs: pruned weights stay at zero.
        self.masks = []
        # (parameter, flat indices, cluster codes, cluster sizes): shared
        # weights stay tied to their cluster's value.
        self.shared = []
        self._optimizers = []
        # Whether the student's steps go by hand (see _student_by_hand),
        # decided at the first epoch.
        self._by_hand = None
        # (optimiser, data, arguments) of the compiled epoch, made once for
        # each optimiser and training set (see _compiled_arguments).
        self._compiled_arguments_of = None
        self._parameter_list = None  # see _parameters
        # Whether the compiled epoch found every weight finite (None: not
        # told; _check_finite looks for itself).
        self._weights_finite = None
        self.interrupted = False  # set once by an interrupt: no more training
        self._interrupt_pending = False

    @property
    def _modules(self):
        return [m for m in (self.teacher, self.student) if m is not None]

    def _parameters(self):
        """Every parameter of the networks (detached), listed once: they
        stay the same tensors through training (the steps, the masks and
        a loaded state write into them), and listing them through the
        modules at every epoch cost a tenth of a digits epoch."""
        if self._parameter_list is None:
            self._parameter_list = [p.detach() for m in self._modules for p in m.parameters()]
        return self._parameter_list

    def prune(self, sparsity):
        """Zero the ``sparsity`` fraction of smallest-magnitude weights of
        each ``nn.Linear`` of the student and keep them at zero from now on
        (magnitude pruning; train on afterwards to fine-tune)."""
        for layer in self.student.modules():
            if isinstance(layer, torch.nn.Linear):
                weight = layer.weight.data
                n_pruned = int(sparsity * weight.numel())
                if n_pruned == 0:
                    continue
                mask = magnitude_mask(weight, n_pruned)
                weight.mul_(mask)
                self.masks.append((layer.weight, mask))

    def share_weights(self, parameters, n_clusters):
        """Weight sharing as Han et al. (2016) fine-tune it: each of
        ``parameters`` takes the nearest of ``n_clusters`` k-means centroids
        of its values (pruned weights left out, at zero) and stays tied to
        them: after every optimiser step each weight of a cluster takes the
        cluster's mean, so that training moves the centroids by the mean
        of their members' steps. Train on afterwards to fine-tune them."""
        from ._storage import kmeans_1d

        masks = {id(parameter): mask for parameter, mask in self.masks}
        for parameter in parameters:
            flat = parameter.data.view(-1)
            mask = masks.get(id(parameter))
            kept = (
                torch.arange(flat.numel(), device=flat.device)
                if mask is None
                else torch.nonzero(mask.view(-1)).view(-1)
            )
            if kept.numel() == 0:
                continue
            centroids, codes = kmeans_1d(flat[kept].cpu().numpy(), n_clusters)
            codes = torch.from_numpy(codes.astype(np.int64)).to(flat.device)
            flat[kept] = torch.from_numpy(centroids).to(flat.device)[codes]
            # Cluster sizes do not change while the weights stay tied.
            counts = torch.bincount(codes, minlength=len(centroids)).clamp_(min=1)
            self.shared.append((parameter, kept, codes, counts))

    def _tie_shared(self):
        for parameter, kept, codes, counts in self.shared:
            flat = parameter.data.view(-1)
            sums = torch.zeros(len(counts), device=flat.device).index_add_(0, codes, flat[kept])
            flat[kept] = (sums / counts)[codes]

    def fit(self, train, validation=None, history=None, max_iter=None, warn=True):
        """Run up to ``max_iter`` epochs (default: the settings') until the
        stopping rule.

        With ``validation``, stop when the student's validation accuracy has
        not improved by ``tol`` for ``n_iter_no_change`` epochs and restore
        the best epoch's weights; otherwise stop on the training loss, as
        scikit-learn's MLP does. The stopping rule starts afresh at each
        call; ``history`` (the epochs and samples seen) carries on.
        """
        settings = self.settings
        max_iter = settings.max_iter if max_iter is None else max_iter
        history = history or TrainingHistory()
        if self.interrupted:
            return history
        history.best_validation_score, history.best_loss = None, np.inf
        # Fresh optimiser state at each call: fine-tuning after pruning
        # starts its moments anew, as a new run would.
        self._optimizers = _optimizers(self._modules, settings.learning_rate_init)
        with self._interrupts_deferred():
            return self._run(train, validation, history, max_iter, warn)

    def _run(self, train, validation, history, max_iter, warn):
        """The epochs of :meth:`fit`."""
        settings = self.settings
        best_state = None
        no_improvement = 0
        for _ in range(max_iter):
            start = time.perf_counter()
            try:
                loss, teacher_acc, student_acc = self._epoch(train)
            except KeyboardInterrupt:
                self._stop_on_interrupt(history, best_state)
                break
            self._check_finite(loss, history.n_iter + 1)
            history.n_iter += 1
            history.t += len(train)
            history.loss_curve.append(loss)
            if validation is not None:
                score = self._score(validation)
                history.validation_scores.append(score)
                best = history.best_validation_score
                improved = best is None or score >= best + settings.tol
                no_improvement = 0 if improved else no_improvement + 1
                if best is None or score > best:
                    history.best_validation_score = score
                    best_state = self._state()
            else:
                no_improvement = (
                    no_improvement + 1 if loss > history.best_loss - settings.tol else 0
                )
                history.best_loss = min(history.best_loss, loss)
            if settings.verbose:
                message = _progress("Epoch", history.n_iter, loss, teacher_acc, student_acc)
                if validation is not None:
                    message += f", validation accuracy {score:.4f}"
                print(f"{message} ({time.perf_counter() - start:.2f}s)", flush=True)
            if no_improvement > settings.n_iter_no_change:
                if settings.verbose:
                    what = "Validation score" if validation is not None else "Training loss"
                    print(
                        f"{what} did not improve more than tol={settings.tol} for "
                        f"{settings.n_iter_no_change} consecutive epochs. Stopping."
                    )
                break
        else:
            if warn:
                warnings.warn(
                    f"Maximum iterations ({max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                )
        if best_state is not None:
            self._load_state(best_state)
        return history

    def partial_fit(self, train, history):
        """One epoch over ``train`` (a chunk of a stream), the optimiser's
        state carried on from the previous call (for ``partial_fit``); no
        stopping rule, no validation."""
        if not self._optimizers:
            self._optimizers = _optimizers(self._modules, self.settings.learning_rate_init)
        self.interrupted = False
        start = time.perf_counter()
        with self._interrupts_deferred():
            try:
                loss, teacher_acc, student_acc = self._epoch(train)
            except KeyboardInterrupt:
                # The chunk is cut short: keep what its batches taught.
                self._stop_on_interrupt(history, None)
                return history
        self._check_finite(loss, history.n_iter + 1)
        history.n_iter += 1
        history.t += len(train)
        history.loss_curve.append(loss)
        if self.settings.verbose:
            message = _progress("Chunk", history.n_iter, loss, teacher_acc, student_acc)
            print(f"{message} ({time.perf_counter() - start:.2f}s)", flush=True)
        return history

    def _epoch(self, data):
        for module in self._modules:
            if not module.training:  # (only scoring turns it off)
                module.train()
        n = len(data)
        order = self.rng.permutation(n) if self.settings.shuffle else np.arange(n)
        if self._compiled_epoch_applies(data):
            return self._compiled_epoch(data, order)
        total_loss = teacher_correct = student_correct = weight_sum = 0.0
        for start in range(0, n, self.settings.batch_size):
            self._raise_if_interrupted()
            batch = np.sort(order[start : start + self.settings.batch_size])
            loss, teacher_logits, student_logits, y, weight = self.step(data, batch)
            batch_weight = float(weight.sum())
            weight_sum += batch_weight
            total_loss += loss * batch_weight
            if not self.settings.verbose:
                continue  # the accuracies are for the progress lines only
            with torch.no_grad():
                student_correct += _weighted_accuracy(student_logits, y, weight) * batch_weight
                if teacher_logits is not None:
                    teacher_correct += _weighted_accuracy(teacher_logits, y, weight) * batch_weight
        if not self.settings.verbose:
            return total_loss / weight_sum, None, None
        teacher_acc = teacher_correct / weight_sum if self.teacher is not None else None
        return total_loss / weight_sum, teacher_acc, student_correct / weight_sum

    def _student_by_hand(self):
        """Whether the student's steps go by hand (``student_loss_by_hand``,
        or the compiled epoch on dense rows): decided once, as the networks
        do not change."""
        if self._by_hand is None:
            self._by_hand = isinstance(self.loss, JointLoss) and by_hand_applies(self.student)
        return self._by_hand

    def _compiled_epoch_applies(self, data):
        """Whether :meth:`_compiled_epoch` takes this epoch: the default
        student alone (see :func:`~sklearn_pnet._torch_pnet.
        by_hand_applies`) on dense rows, with Adam, no pruning mask and no
        tied weights."""
        return (
            student_epoch is not None
            and self.teacher is None
            and data.teacher_logits is None
            and data.bits is None
            and not sp.issparse(data.X)
            and not self.masks
            and not self.shared
            and self._student_by_hand()
            and len(self._optimizers) == 1
            and isinstance(self._optimizers[0], DenseAdam)
        )

    def _compiled_epoch(self, data, order):
        """:meth:`_epoch` by the compiled kernel ``student_epoch``: every
        step of the default student on dense rows in C, in batches of the
        same rows as :meth:`step` would take, and Adam as
        :class:`DenseAdam` steps (its state carries on); an interrupt is
        looked at before each batch, as there.

        Its numbers are the kernel's own (``sklearn_pnet/_student_epoch.c``
        says how it adds and rounds), close to torch's but not the same
        bits. A step of digits took 350 us through torch, most of it in the
        fixed cost of a dozen operations on a 200 x 256 batch
        (``benchmarks/SPEED.md``, "Twelfth session"). The kernel shares
        each step among up to ``MAX_EPOCH_THREADS`` threads of its own,
        with the same numbers, where that is faster than one ("Thirteenth
        session"), and says whether the weights are still finite."""
        arrays, moments, states, rates = self._compiled_arguments(data)
        sums = np.zeros(4)
        try:
            self._weights_finite = student_epoch(
                data.float32_rows(), order, data.y, data.sample_weight, *arrays, moments, sums,
                self.settings.batch_size, states[0][0], *rates, *self._optimizers[0].betas,
                self._optimizers[0].eps, self.loss.loss_weights[2], self._raise_if_interrupted,
                _EPOCH_THREADS.get(),
            )  # fmt: skip
        finally:
            # The four parameters step together: one count serves them all.
            for state in states:
                state[0] += int(sums[3])
        loss, weight_sum, correct, _ = sums
        student_acc = correct / weight_sum if self.settings.verbose else None
        return loss / weight_sum, None, student_acc

    def _compiled_arguments(self, data):
        """What :meth:`_compiled_epoch` passes on, made at the first epoch
        of each optimiser: the projection's slots and the parameters as
        numpy views, Adam's moments and step counts, the two learning
        rates."""
        adam = self._optimizers[0]
        cached = self._compiled_arguments_of
        if cached is not None and cached[0] is adam and cached[1] is data:
            return cached[2]
        projection, linear = self.student.projection, self.student.mlp[0]
        params = [projection.weight, projection.threshold, linear.weight, linear.bias]
        states = [adam.state_of(p) for p in params]
        arrays = [*projection.slot_arrays(data.X.shape[1]), *(p.detach().numpy() for p in params)]
        moments = [t.numpy() for state in states for t in state[1:3]]
        rates = [adam.learning_rate(projection.weight), adam.learning_rate(linear.weight)]
        self._compiled_arguments_of = (adam, data, (arrays, moments, states, rates))
        return self._compiled_arguments_of[2]

    def step(self, data, batch):
        """One optimiser step on the samples ``batch`` of ``data``.

        Returns the batch's loss (a float), the teacher's logits (or None),
        the student's logits, the labels and the sample weights.
        """
        device = self.settings.device
        y = torch.from_numpy(data.y[batch]).to(device)
        weight = torch.from_numpy(data.sample_weight[batch]).to(device)
        teacher_logits = None
        if self.teacher is not None:
            teacher_logits = self.teacher(to_tensor(data.X[batch], device))
        elif data.teacher_logits is not None:
            teacher_logits = torch.from_numpy(data.teacher_logits[batch]).to(device)
        student_input = data.student_input(batch, device)
        if self._student_by_hand() and teacher_logits is None:
            # The default student's cross-entropy alone: by hand, with the
            # same numbers as autograd's.
            loss, student_logits = student_loss_by_hand(
                self.student, student_input, y, weight, self.loss.loss_weights[2]
            )
        else:
            student_logits = self.student(student_input)
            loss = self.loss(teacher_logits, student_logits, y, weight)
            for optimizer in self._optimizers:
                optimizer.zero_grad()
            loss.backward()
        for optimizer in self._optimizers:
            optimizer.step()
        with torch.no_grad():
            for parameter, mask in self.masks:
                parameter.mul_(mask)
            self._tie_shared()
        return float(loss.detach()), teacher_logits, student_logits, y, weight

    @torch.no_grad()
    def _score(self, data):
        self.student.eval()
        device = self.settings.device
        logits = self.student(data.student_input(None, device))
        y = torch.from_numpy(data.y).to(device)
        weight = torch.from_numpy(data.sample_weight).to(device)
        return _weighted_accuracy(logits, y, weight)

    def _state(self):
        return [copy.deepcopy(m.state_dict()) for m in self._modules]

    @contextmanager
    def _interrupts_deferred(self):
        """Turn Ctrl-C (SIGINT) into a request that the next batch sees.

        A ``KeyboardInterrupt`` raised wherever the interpreter happens to
        be could stop an optimiser half-way through its parameters; the
        handler only records the request, and :meth:`_epoch` acts on it
        between batches. Signal handlers belong to the main thread: in
        another one, or where SIGINT is ignored or handled outside Python,
        nothing changes.
        """
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
        if previous in (None, signal.SIG_IGN):
            yield
            return

        def request_stop(signum, frame):
            self._interrupt_pending = True

        signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _raise_if_interrupted(self):
        """Raise the ``KeyboardInterrupt`` that SIGINT deferred, between
        batches."""
        if self._interrupt_pending:
            self._interrupt_pending = False
            raise KeyboardInterrupt

    def _stop_on_interrupt(self, history, best_state):
        """Keep the weights learnt so far and say so; no more training."""
        self.interrupted = True
        kept = "the weights after the last batch"
        if best_state is not None:
            self._load_state(best_state)
            kept = "the weights of the best epoch on the validation data"
        warnings.warn(
            f"Training interrupted by user during epoch {history.n_iter + 1}; the model "
            f"keeps {kept} ({history.n_iter} complete epochs).",
            UserWarning,
        )

    def _check_finite(self, loss, epoch):
        """Raise ``ValueError`` if the epoch's loss or any weight is not
        finite: training has diverged, and a model with NaN or infinite
        weights would predict nonsense (or one class) without a word."""
        told, self._weights_finite = self._weights_finite, None
        finite = math.isfinite(loss) and (
            told if told is not None else all(_all_finite(p) for p in self._parameters())
        )
        if not finite:
            what = "some weights are not finite"
            if not math.isfinite(loss):
                what = f"the loss is {loss}"
            raise ValueError(
                f"Training diverged at epoch {epoch}: {what}. The usual causes "
                "are a learning rate too high (learning_rate_init="
                f"{self.settings.learning_rate_init}) or unscaled features, of very large "
                "magnitude (scale them, e.g. with StandardScaler or MaxAbsScaler)."
            )

    def _load_state(self, state):
        for module, module_state in zip(self._modules, state):
            module.load_state_dict(module_state)
