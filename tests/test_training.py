"""The training loop's parts: optimisers, thread use."""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_pnet import _training
from sklearn_pnet._torch_common import to_tensor
from sklearn_pnet._torch_pnet import SparseLinear
from sklearn_pnet._training import DenseAdam, RowAdam, _all_finite, training_threads


def test_row_adam_updates_the_rows_used_as_sparse_adam_does():
    X = sp.random(30, 50, density=0.1, format="csr", random_state=0, dtype=np.float32)
    torch.manual_seed(0)
    layer = SparseLinear(50, 4)
    reference = torch.nn.Parameter(layer.weight.detach().clone())
    start = layer.weight.detach().clone()
    row_adam = RowAdam([layer], lr=0.01)
    sparse_adam = torch.optim.SparseAdam([reference], lr=0.01)
    targets = torch.randn(30, 4)
    for batch in (slice(0, 10), slice(10, 20), slice(0, 30)):
        x = to_tensor(X[batch], "cpu")
        loss = F.mse_loss(layer(x), targets[batch])
        row_adam.zero_grad()  # between forward and backward, as the Trainer does
        loss.backward()
        row_adam.step()
        sparse_adam.zero_grad()
        out = F.embedding_bag(
            x.col_indices(),
            reference,
            x.crow_indices()[:-1],
            mode="sum",
            per_sample_weights=x.values(),
            sparse=True,
        )
        F.mse_loss(out + layer.bias.detach(), targets[batch]).backward()
        sparse_adam.step()
    torch.testing.assert_close(layer.weight.detach(), reference.detach(), rtol=1e-5, atol=1e-6)
    # Rows no batch used did not move; autograd never made a weight gradient.
    unused = torch.from_numpy(np.setdiff1d(np.arange(50), X.indices))
    assert len(unused) > 0
    torch.testing.assert_close(layer.weight[unused], start[unused], rtol=0, atol=0)
    assert layer.weight.grad is None


def test_training_uses_one_thread_unless_told(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with training_threads():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    try:
        with training_threads():
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert "OMP_NUM_THREADS" in os.environ


def test_fit_keeps_prediction_kernels_to_its_threads(monkeypatch):
    """The projection of the training set, inside fit, runs on the fit's
    one thread; predict afterwards on prediction's threads."""
    from sklearn_pnet import ProjectionNetClassifier, _inference

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_inference, "MIN_OPERATIONS_PER_THREAD", 1)
    seen = []
    real = _inference.run_in_threads

    def spy(work, indptr, n_threads):
        seen.append(_inference.prediction_threads())
        real(work, indptr, n_threads)

    monkeypatch.setattr(_inference, "run_in_threads", spy)
    X = sp.random(60, 40, density=0.2, format="csr", random_state=0)
    y = np.arange(60) % 3
    clf = ProjectionNetClassifier(n_bits=16, projection="random", max_iter=2, random_state=0)
    # (the suite runs under threadpool_limits(1): lift it to two threads)
    with threadpool_limits(2), warnings.catch_warnings():
        assert _inference.prediction_threads() == 2
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        assert seen and set(seen) == {1}
        seen.clear()
        clf.predict(X)
        assert seen == [2]
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert _inference.training_thread_cap() is None


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("n", [1, 7, 16, 1003, 58_368])
def test_dense_adam_is_torchs_adam_to_the_bit_with_or_without_kernels(n, compiled, monkeypatch):
    # Sizes with and without a tail past the vectors of 16, up to TREC's
    # projection weights; gradients from 1e-7 to 10, where the square root
    # and the rounding of each operation show.
    if compiled and _training.adam_moments is None:
        pytest.skip("the compiled kernels are not built")
    if not compiled:
        monkeypatch.setattr(_training, "adam_moments", None)
    calls = []
    compiled_step = _training._compiled_step
    monkeypatch.setattr(
        _training, "_compiled_step", lambda *args: calls.append(1) or compiled_step(*args)
    )
    generator = torch.Generator().manual_seed(n)
    ours = torch.nn.Parameter(torch.randn(n, generator=generator))
    theirs = torch.nn.Parameter(ours.detach().clone())
    ours_optimizer = DenseAdam([{"params": [ours], "lr": 0.03}])
    theirs_optimizer = torch.optim.Adam([theirs], lr=0.03)
    for step in range(30):
        grad = torch.randn(n, generator=generator) * 10.0 ** (step % 9 - 7)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        ours_optimizer.step()
        theirs_optimizer.step()
        assert torch.equal(ours, theirs), step
    assert len(calls) == (30 if compiled else 0)


def test_adam_kernels_check_their_arguments():
    from sklearn_pnet._training import adam_moments, adam_update

    if adam_moments is None:
        pytest.skip("the compiled kernels are not built")
    m, v, g = (np.zeros(5, np.float32) for _ in range(3))
    with pytest.raises(ValueError, match="grad does not hold n float32"):
        adam_moments(m, v, g[:4], 5, 0.1, 0.999, 0.001)
    with pytest.raises(ValueError, match="below 0.5"):  # torch's other lerp formula
        adam_moments(m, v, g, 5, 0.6, 0.999, 0.001)
    with pytest.raises(TypeError, match="items of 8 bytes"):
        adam_update(m.astype(np.float64), v, g, 5, 1.0, 1e-8, -0.1)
    with pytest.raises(ValueError, match="param does not hold"):
        adam_update(m, v, g, 6, 1.0, 1e-8, -0.1)


def test_all_finite_checks_every_entry_even_when_the_sum_overflows():
    assert _all_finite(torch.ones(5))
    assert _all_finite(torch.tensor([3e38, 3e38]))  # finite entries, infinite sum
    assert not _all_finite(torch.tensor([1.0, float("nan")]))
    assert not _all_finite(torch.tensor([1.0, float("inf"), -float("inf")]))
    assert not _all_finite(torch.tensor([3e38, float("inf")]))


def test_dense_adam_is_torchs_adam_to_the_bit():
    # Two groups at different learning rates (as a projection's lr_scale
    # makes), and a parameter left without a gradient in some steps: torch
    # skips it and does not count the step, and so must DenseAdam.
    torch.manual_seed(0)
    layers = [torch.nn.Linear(6, 5), torch.nn.Linear(5, 3), torch.nn.Linear(6, 3)]
    twins = [torch.nn.Linear(6, 5), torch.nn.Linear(5, 3), torch.nn.Linear(6, 3)]
    for twin, layer in zip(twins, layers):
        twin.load_state_dict(layer.state_dict())

    def groups(modules):
        return [
            {"params": [*modules[0].parameters(), *modules[1].parameters()], "lr": 0.001},
            {"params": list(modules[2].parameters()), "lr": 0.03},
        ]

    start = [p.detach().clone() for layer in layers for p in layer.parameters()]
    ours = DenseAdam(groups(layers))
    theirs = torch.optim.Adam(groups(twins), lr=0.001)
    x, y = torch.randn(20, 6), torch.randn(20, 3)
    for step in range(12):
        for modules, optimizer in ((layers, ours), (twins, theirs)):
            optimizer.zero_grad()
            out = modules[1](torch.relu(modules[0](x)))
            if step % 3 == 0:
                out = out + modules[2](x)
            F.mse_loss(out, y).backward()
            optimizer.step()
    for layer, twin in zip(layers, twins):
        for p, q in zip(layer.parameters(), twin.parameters()):
            assert torch.equal(p, q)
    moved = [p for layer in layers for p in layer.parameters()]
    assert all(not torch.equal(p, p0) for p, p0 in zip(moved, start))


def _default_student(n_features, n_classes, n_bits=64, seed=0):
    from sklearn_pnet._torch_pnet import HashedProjection, Student, mlp

    torch.manual_seed(seed)
    projection = HashedProjection(seed, n_features, n_bits, 8, 97, np.zeros(n_bits))
    return Student(mlp(n_bits, (), n_classes), projection)


def _batch(sparse, n_rows, n_features, n_classes, seed=0):
    rng = np.random.RandomState(seed)
    X = sp.random(n_rows, n_features, density=0.2, format="csr", random_state=rng)
    X = X.astype(np.float32) if sparse else X.toarray() * 16
    y = torch.from_numpy(rng.randint(n_classes, size=n_rows).astype(np.int64))
    weight = torch.from_numpy(rng.uniform(0.2, 3.0, n_rows).astype(np.float32))
    return X, y, weight


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("n_rows, n_classes, student_weight", [(50, 5, 1.0), (1, 2, 0.5)])
def test_student_loss_by_hand_is_autograds_to_the_bit(sparse, n_rows, n_classes, student_weight):
    # The default student's loss and gradients without autograd: the same
    # numbers as backward() through the modules and joint_loss, on sparse
    # and dense batches, uneven sample weights, a term weight other than 1
    # and a one-row batch (each bit's scale falls back to 1).
    from sklearn_pnet._torch_pnet import student_loss_by_hand

    if _training.adam_moments is None:
        pytest.skip("the compiled kernels are not built")
    X, y, weight = _batch(sparse, n_rows, 40, n_classes)
    results = []
    for by_hand in (True, False):
        student = _default_student(40, n_classes)
        with torch.no_grad():  # a trained state, not the initial one
            student.projection.weight.uniform_(-2, 2)
            student.projection.threshold.uniform_(-0.5, 0.5)
        if by_hand:
            loss, logits = student_loss_by_hand(student, X, y, weight, student_weight)
        else:
            logits = student(X)
            loss = _training.JointLoss((0.0, 0.0, student_weight))(None, logits, y, weight)
            loss.backward()
        grads = [p.grad for p in student.parameters()]
        results.append((loss.detach(), logits.detach(), grads))
    (loss, logits, grads), (loss_ref, logits_ref, grads_ref) = results
    assert torch.equal(loss, loss_ref)
    assert torch.equal(logits, logits_ref)
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    for grad, grad_ref in zip(grads, grads_ref):
        assert torch.equal(grad.view(torch.int32), grad_ref.view(torch.int32))


def test_by_hand_applies_to_the_default_student_only(monkeypatch):
    from sklearn_pnet import _torch_pnet
    from sklearn_pnet._torch_pnet import Student, by_hand_applies, mlp

    if _training.adam_moments is None:
        pytest.skip("the compiled kernels are not built")
    assert by_hand_applies(_default_student(40, 3))
    hidden = _default_student(40, 3)
    hidden.mlp = mlp(64, (16,), 3)
    frozen = _default_student(40, 3)
    frozen.projection.threshold.requires_grad_(False)
    for other in (hidden, frozen, Student(mlp(40, (), 3)), mlp(40, (), 3)):
        assert not by_hand_applies(other)
    monkeypatch.setattr(_torch_pnet, "train_projection", None)
    assert not by_hand_applies(_default_student(40, 3))


def _counted(monkeypatch, name):
    """Count the calls of ``_training.<name>``: the list they append to."""
    calls, function = [], getattr(_training, name)
    monkeypatch.setattr(_training, name, lambda *args: calls.append(1) or function(*args))
    return calls


@pytest.mark.parametrize("sparse", [True, False])
def test_fit_by_hand_is_the_autograd_fit(sparse, monkeypatch):
    # A whole default fit (and its weight-sharing fine-tuning) gives the
    # same model to the bit whether the steps go by hand or by autograd.
    from sklearn_pnet import ProjectionNetClassifier

    X, y, _ = _batch(sparse, 300, 40, 4)
    y = y.numpy()
    params = dict(n_bits=64, max_iter=6, weight_clusters=8, random_state=0)
    # Dense rows would go to the compiled epoch, whose numbers are its own.
    monkeypatch.setattr(_training, "student_epoch", None)
    calls = _counted(monkeypatch, "student_loss_by_hand")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ProjectionNetClassifier(**params).fit(X, y)
        assert calls
        monkeypatch.setattr(_training, "by_hand_applies", lambda student: False)
        theirs = ProjectionNetClassifier(**params).fit(X, y)
    for ours_coef, theirs_coef in zip(ours.coefs_, theirs.coefs_):
        assert np.array_equal(np.asarray(ours_coef), np.asarray(theirs_coef))
    assert np.array_equal(ours.projector_.threshold_, theirs.projector_.threshold_)
    assert np.array_equal(
        np.asarray(ours.projector_.weights_), np.asarray(theirs.projector_.weights_)
    )
    assert np.array_equal(ours.loss_curve_, theirs.loss_curve_)


# The compiled epoch of the default student on dense rows (student_epoch).

needs_student_epoch = pytest.mark.skipif(
    _training.student_epoch is None, reason="the compiled kernels are not built"
)


def _trained_state(student, seed=1):
    """Parameters away from their initial values, as during training."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        student.projection.weight.uniform_(-2, 2, generator=gen)
        student.projection.threshold.normal_(0, 3, generator=gen)
        for p in student.mlp.parameters():
            p.normal_(0, 0.5, generator=gen)


def _epoch_arguments(student, n_features):
    """student_epoch's arrays for ``student``: its slots, its parameters
    (numpy views) and zero moments."""
    projection, linear = student.projection, student.mlp[0]
    params = [projection.weight, projection.threshold, linear.weight, linear.bias]
    arrays = [p.detach().numpy() for p in params]
    moments = [np.zeros_like(a) for a in arrays for _ in range(2)]
    return [*projection.slot_arrays(n_features), *arrays], moments


@needs_student_epoch
@pytest.mark.parametrize("n_rows, n_classes, student_weight", [(50, 5, 1.0), (1, 2, 0.5)])
def test_compiled_step_has_torchs_loss_and_gradients(n_rows, n_classes, student_weight):
    # One step of the compiled epoch against the torch step (autograd's
    # numbers, student_loss_by_hand): the same loss and gradients up to
    # rounding. The gradients are read off Adam's first step with a huge
    # eps and learning rate, where it moves each parameter by -g.
    from sklearn_pnet._torch_pnet import student_loss_by_hand

    X, y, weight = _batch(False, n_rows, 40, n_classes, seed=3)
    student = _default_student(40, n_classes)
    _trained_state(student)
    X = np.ascontiguousarray(X, dtype=np.float32)
    loss, _ = student_loss_by_hand(student, X, y, weight, student_weight)
    expected = [p.grad.numpy().copy() for p in _epoch_parameters(student)]
    arrays, moments = _epoch_arguments(student, 40)
    before = [a.copy() for a in arrays[3:]]
    sums = np.zeros(4)
    big = 1e6
    _training.student_epoch(
        X, np.arange(n_rows), y.numpy(), weight.numpy(), *arrays, moments, sums,
        n_rows, 0, big, big, 0.9, 0.999, big, student_weight, None,
    )  # fmt: skip
    assert sums[3] == 1
    np.testing.assert_allclose(sums[0] / sums[1], float(loss), rtol=1e-5)
    np.testing.assert_allclose(sums[1], float(weight.sum()), rtol=1e-6)
    for old, new, grad in zip(before, arrays[3:], expected):
        assert np.abs(grad).max() > 0
        np.testing.assert_allclose(old - new, grad, rtol=1e-3, atol=2e-5)


def _epoch_parameters(student):
    projection, linear = student.projection, student.mlp[0]
    return [projection.weight, projection.threshold, linear.weight, linear.bias]


def _classification(n_rows=400, seed=0):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_rows, 30, n_informative=10, n_classes=4, random_state=seed, class_sep=1.5
    )
    return X.astype(np.float32), y


@needs_student_epoch
def test_compiled_epoch_trains_as_the_torch_steps_do(monkeypatch):
    # The compiled epoch takes a default fit on dense rows; its first
    # epoch's loss is the torch steps' up to rounding, and the model it
    # ends with scores as theirs does. Fits are reproducible.
    from sklearn_pnet import ProjectionNetClassifier

    X, y = _classification()
    params = dict(n_bits=64, max_iter=30, random_state=0)
    calls = _counted(monkeypatch, "student_epoch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ProjectionNetClassifier(**params).fit(X[:300], y[:300])
        assert len(calls) == 30  # an epoch a call
        again = ProjectionNetClassifier(**params).fit(X[:300], y[:300])
        monkeypatch.setattr(_training, "student_epoch", None)
        theirs = ProjectionNetClassifier(**params).fit(X[:300], y[:300])
    assert len(calls) == 60
    np.testing.assert_array_equal(ours.predict_proba(X), again.predict_proba(X))
    np.testing.assert_allclose(ours.loss_curve_[0], theirs.loss_curve_[0], rtol=1e-3)
    assert abs(ours.score(X[300:], y[300:]) - theirs.score(X[300:], y[300:])) <= 0.05
    assert ours.score(X[300:], y[300:]) > 0.6


@needs_student_epoch
@pytest.mark.parametrize(
    "params, sparse",
    [
        (dict(), True),
        (dict(hidden_layer_sizes=(8,)), False),
        (dict(loss_weights=(1.0, 0.1, 1.0)), False),
        (dict(projection="random"), False),
    ],
)
def test_compiled_epoch_only_takes_the_default_student_on_dense_rows(params, sparse, monkeypatch):
    from sklearn_pnet import ProjectionNetClassifier

    X, y = _classification(100)
    if sparse:
        X = sp.csr_matrix(X)
    calls = []
    monkeypatch.setattr(_training, "student_epoch", lambda *args: calls.append(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ProjectionNetClassifier(n_bits=32, max_iter=2, random_state=0, **params).fit(X, y)
    assert not calls


@needs_student_epoch
@pytest.mark.parametrize("n_threads", [1, 2])
def test_compiled_epoch_stops_where_python_says_and_counts_its_steps(n_threads):
    X, y, weight = _batch(False, 100, 40, 3)
    student = _default_student(40, 3)
    arrays, moments = _epoch_arguments(student, 40)
    before = arrays[3].copy()
    sums = np.zeros(4)
    seen = []

    def between():
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt

    X = np.ascontiguousarray(X, dtype=np.float32)
    with pytest.raises(KeyboardInterrupt):
        _training.student_epoch(
            X, np.arange(100), y.numpy(), weight.numpy(), *arrays, moments, sums,
            20, 0, 0.01, 0.001, 0.9, 0.999, 1e-8, 1.0, between, n_threads,
        )  # fmt: skip
    assert sums[3] == 2  # two batches of five ran
    assert not np.array_equal(before, arrays[3])


@needs_student_epoch
@pytest.mark.parametrize(
    "change, error",
    [
        ("order", "a row of order is out of range"),
        ("y", "a class index is out of range"),
        ("bits", "a bit or weight index is out of range"),
        ("moments", "moments must be a sequence of 8 buffers"),
        ("between", "between must be callable or None"),
        ("sums", "inconsistent sizes"),
        ("n_threads", "n_threads must be at least 1"),
    ],
)
def test_compiled_epoch_checks_its_arguments(change, error):
    X, y, weight = _batch(False, 20, 40, 3)
    student = _default_student(40, 3)
    arrays, moments = _epoch_arguments(student, 40)
    X = np.ascontiguousarray(X, dtype=np.float32)
    args = dict(
        order=np.arange(20), y=y.numpy(), moments=moments, sums=np.zeros(4), between=None, n=1
    )
    if change == "order":
        args["order"] = np.array([0, 20])
    elif change == "y":
        args["y"] = np.where(np.arange(20) == 5, 3, args["y"])
    elif change == "bits":
        arrays[0] = arrays[0].copy()
        arrays[0][2, 1] = 64
    elif change == "moments":
        args["moments"] = moments[:7]
    elif change == "between":
        args["between"] = 1
    elif change == "n_threads":
        args["n"] = 0
    else:
        args["sums"] = np.zeros(3)
    before = [a.copy() for a in arrays[3:]]
    with pytest.raises((ValueError, TypeError), match=error):
        _training.student_epoch(
            X, args["order"], args["y"], weight.numpy(), *arrays, args["moments"], args["sums"],
            10, 0, 0.01, 0.001, 0.9, 0.999, 1e-8, 1.0, args["between"], args["n"],
        )  # fmt: skip
    for old, new in zip(before, arrays[3:]):  # nothing trained
        np.testing.assert_array_equal(old, new)


@needs_student_epoch
def test_compiled_epoch_is_the_same_on_every_build(tmp_path):
    # The kernel's loops act on each lane alone or add lanes in a fixed
    # order, so a build for the oldest x86-64 (no target clones, SSE2) gives
    # the model of the installed one (AVX-512 or AVX2 where the CPU has it)
    # to the bit.
    import shutil

    from benchmarks.student_epoch_phases import build_kernels

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    plain = build_kernels(tmp_path, "-DWIDEST_VECTORS=")
    X, y, weight = _batch(False, 130, 40, 4, seed=2)
    X = np.ascontiguousarray(X, dtype=np.float32)
    order = np.random.RandomState(0).permutation(130)
    results = []
    for module in (_training, plain):
        student = _default_student(40, 4)
        _trained_state(student)
        arrays, moments = _epoch_arguments(student, 40)
        sums = np.zeros(4)
        for step in range(0, 9, 3):  # three epochs of three batches
            module.student_epoch(
                X, order, y.numpy(), weight.numpy(), *arrays, moments, sums,
                50, step, 0.03, 0.001, 0.9, 0.999, 1e-8, 1.0, None,
            )  # fmt: skip
        results.append([*arrays[3:], *moments, sums])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def _three_epochs(module, n_threads, n_rows=400, batch_size=100):
    """Three epochs of student_epoch from one trained state, on
    ``n_threads``: the parameters, moments and sums they end with."""
    X, y, weight = _batch(False, n_rows, 40, 4, seed=2)
    X = np.ascontiguousarray(X, dtype=np.float32)
    order = np.random.RandomState(0).permutation(n_rows)
    student = _default_student(40, 4)
    _trained_state(student)
    arrays, moments = _epoch_arguments(student, 40)
    sums = np.zeros(4)
    steps = -(-n_rows // batch_size)
    for epoch in range(3):
        module.student_epoch(
            X, order, y.numpy(), weight.numpy(), *arrays, moments, sums,
            batch_size, epoch * steps, 0.03, 0.001, 0.9, 0.999, 1e-8, 1.0, None, n_threads,
        )  # fmt: skip
    return [*arrays[3:], *moments, sums]


@needs_student_epoch
def test_compiled_epoch_is_the_same_on_any_number_of_threads():
    # A step's phases are shared out as tasks that write apart from one
    # another, and every number is computed as on one thread: one, two or
    # three threads give the same model to the bit. (The helpers must have
    # taken some of the tasks for that to say anything.)
    from sklearn_pnet import _kernels

    helped = _kernels.student_epoch_helped()
    one = _three_epochs(_training, 1)
    for n_threads in (2, 3):
        for ours, theirs in zip(_three_epochs(_training, n_threads), one):
            np.testing.assert_array_equal(ours, theirs)
    assert _kernels.student_epoch_helped() > helped


def _epoch_in_a_fork(n_threads):
    return _three_epochs(_training, n_threads)


@needs_student_epoch
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_compiled_epoch_trains_in_a_forked_child():
    # The helper threads are kept from call to call; a child forked after
    # they started (multiprocessing, joblib) has none of them, starts its
    # own, and trains as the parent does.
    import multiprocessing

    ours = _three_epochs(_training, 2)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        theirs = pool.apply_async(_epoch_in_a_fork, (2,)).get(timeout=120)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


@needs_student_epoch
def test_compiled_epoch_threads_follow_threadpoolctl(monkeypatch):
    # As many threads as scikit-learn's OpenMP code would take, up to
    # MAX_EPOCH_THREADS: a threadpoolctl limit of one leaves one.
    from sklearn_pnet import ProjectionNetClassifier, _inference

    seen = []
    real = _training.student_epoch
    monkeypatch.setattr(_training, "student_epoch", lambda *a: seen.append(a[-1]) or real(*a))
    X, y = _classification(100)
    clf = ProjectionNetClassifier(n_bits=64, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for limit in (1, 2):
            seen.clear()
            with threadpool_limits(limit):
                expected = min(_inference.openmp_threads(), _training.MAX_EPOCH_THREADS)
                clf.fit(X, y)
            assert seen == [expected] * 2
            assert expected == 1 or limit == 2


@needs_student_epoch
def test_compiled_epoch_says_whether_its_weights_are_finite(monkeypatch):
    # The kernel returns whether every parameter is finite after its steps,
    # and the trainer stops on its word as on its own check's.
    from sklearn_pnet import ProjectionNetClassifier

    X, y, weight = _batch(False, 20, 40, 3)
    X = np.ascontiguousarray(X, dtype=np.float32)
    answers = []
    for bad in (False, True):
        student = _default_student(40, 3)
        arrays, moments = _epoch_arguments(student, 40)
        if bad:
            arrays[6][0] = np.inf  # the bias: it stays infinite through Adam
        finite = _training.student_epoch(
            X, np.arange(20), y.numpy(), weight.numpy(), *arrays, moments, np.zeros(4),
            10, 0, 0.01, 0.001, 0.9, 0.999, 1e-8, 1.0, None,
        )  # fmt: skip
        answers.append(finite)
    assert answers == [True, False]
    real = _training.student_epoch
    monkeypatch.setattr(_training, "student_epoch", lambda *args: real(*args) and False)
    X, y = _classification(100)
    with pytest.raises(ValueError, match="diverged at epoch 1: some weights are not finite"):
        ProjectionNetClassifier(n_bits=64, max_iter=2, random_state=0).fit(X, y)
