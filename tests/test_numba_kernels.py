"""The numba kernels compute what the numpy formulas of the engine compute.

Each kernel is compared with the engine's own objects (activations, losses,
optimizers) on the same inputs: float32 within 1e-5 and float64 within 1e-12,
relative to the magnitude of the compared array. Elementwise relative error
would be the wrong yardstick where a derivative cancels (``1 - tanh(z)**2``
near saturation: one ulp of difference in ``tanh`` is then a large relative
change of a number that is nearly zero next to its neighbours).
"""

import math
import os
import sys
from pathlib import Path

import _fresh_interpreter as fresh
import numpy as np
import pytest

numba = pytest.importorskip("numba")

from sknet import _numba_kernels as K  # noqa: E402

# The kernels only the benchmarks use live beside them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import numba_extra_kernels as BK  # noqa: E402

from sknet.activations import ACTIVATIONS, LeakyReLU  # noqa: E402
from sknet.losses import BinaryLogLoss, LogLoss, SquaredError  # noqa: E402
from sknet.optimizers import SGD, Adam  # noqa: E402

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]
HIDDEN = ["identity", "relu", "leaky_relu", "tanh", "sigmoid", "logistic", "elu", "softplus",
          "gelu"]  # fmt: skip


def assert_close(got, want, dtype):
    """Within RTOL[dtype] of the reference, relative to the reference's magnitude."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    scale = float(np.abs(want).max()) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def _data(dtype, shape, seed, spread=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * spread).astype(dtype)


def _activation(name, slope):
    return LeakyReLU(slope=slope) if name == "leaky_relu" else ACTIVATIONS[name]


def _forward(kind, name):
    """The public function (numba or numpy, as chosen) or the numba kernel itself."""
    if kind == "chosen":
        return K.bias_activation
    kernel = K.NUMBA_FORWARD[name]
    return lambda z, bias, a, name, slope: kernel(z, bias, a, z.dtype.type(slope))


def _backward(kind, name):
    if kind == "chosen":
        return K.activation_backward
    kernel = K.NUMBA_BACKWARD[name]
    return lambda z, a, delta, name, slope: kernel(z, a, delta, delta.dtype.type(slope))


@pytest.mark.parametrize("kind", ["chosen", "numba"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", HIDDEN)
@pytest.mark.parametrize("inplace", [True, False])
def test_bias_activation_matches_numpy(name, dtype, inplace, kind):
    slope = 0.2
    act = _activation(name, slope)
    z0, bias = _data(dtype, (37, 19), 0), _data(dtype, 19, 1)
    # z spans both signs and the saturated ends of tanh, sigmoid, softplus, elu.
    z0[0, :7] = np.array([-100, -30, -1e-3, 0, 1e-3, 30, 100], dtype=dtype)
    z_ref = z0 + bias
    want = act.forward(z_ref.copy())
    z = z0.copy()
    a = z if inplace else np.full_like(z, np.nan)
    if inplace and kind == "chosen" and name in ("elu", "softplus"):
        with pytest.raises(ValueError, match=f"The {name} activation needs an a_out other than z"):
            K.bias_activation(z, bias, a, name)
        return
    _forward(kind, name)(z, bias, a, name, slope=slope)
    assert_close(a, want, dtype)
    if not inplace and (kind == "numba" or name == "gelu"):
        np.testing.assert_array_equal(z, z_ref)  # z received z + bias, exactly


@pytest.mark.parametrize("kind", ["chosen", "numba"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", HIDDEN)
def test_activation_backward_matches_numpy(name, dtype, kind):
    slope = 0.2
    act = _activation(name, slope)
    z = _data(dtype, (29, 23), 2)
    z[0, :5] = np.array([-40, -1e-3, 0, 1e-3, 40], dtype=dtype)
    a = act.forward(z.copy())
    delta0 = _data(dtype, z.shape, 3, spread=1.0)
    # numpy's backward may overwrite z and a: give it copies.
    want = act.backward(z.copy(), a.copy(), delta0.copy())
    delta, z_before, a_before = delta0.copy(), z.copy(), a.copy()
    _backward(kind, name)(z, a, delta, name, slope=slope)
    assert_close(delta, want, dtype)
    if kind == "numba":  # the kernels read z and a only
        np.testing.assert_array_equal(z, z_before)
        np.testing.assert_array_equal(a, a_before)


def test_numpy_is_kept_where_numba_calls_the_c_library_per_element():
    numpy_forward = {n for n, f in K.FORWARD_KERNELS.items() if f is not K.NUMBA_FORWARD[n]}
    numpy_backward = {n for n, f in K.BACKWARD_KERNELS.items() if f is not K.NUMBA_BACKWARD[n]}
    assert numpy_forward == {"tanh", "elu", "softplus"}
    assert numpy_backward == {"softplus", "gelu"}


def test_relu_keeps_nan_like_numpy():
    z = np.array([[np.nan, -1.0, 2.0]])
    a = np.empty_like(z)
    K.bias_activation(z, np.zeros(3), a, "relu")
    np.testing.assert_array_equal(a, np.maximum(z, 0))  # [nan, 0, 2]
    delta = np.array([[1.0, np.inf, 3.0]])
    K.activation_backward(z, a, delta, "relu")
    # inf * 0 is nan in numpy's formula too: a diverging delta is never hidden.
    np.testing.assert_array_equal(delta, np.array([[0.0, np.nan, 3.0]]))


def test_unknown_activation_names_the_valid_ones():
    z = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"activation must be one of \[.*'relu'.*\], got 'swish'"):
        K.bias_activation(z, np.zeros(2), z, "swish")
    with pytest.raises(ValueError, match=r"activation must be one of .*got 'softmax'"):
        K.activation_backward(z, z, z, "softmax")


def _adam_constants(opt):
    b1, b2 = opt.beta_1, opt.beta_2
    correction = math.sqrt(1 - b2**opt.t) / (1 - b1**opt.t)
    step = opt.current_learning_rate * correction * (1 - b1) / math.sqrt(1 - b2)
    return step, b1, b2, opt.epsilon / math.sqrt(1 - b2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("into_out", [True, False])
def test_adam_step_matches_adam_over_ten_steps(dtype, into_out):
    n = 1001
    params0 = _data(dtype, n, 4, spread=1.0)
    ref, opt = params0.copy(), Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
    opt.reset(n, ref.dtype)
    params, first, second = params0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    out = np.empty(n, dtype)
    for step in range(10):
        grad = _data(dtype, n, 10 + step, spread=0.1)
        grad[:3] = 0  # a zero second moment: the division must use eps_hat
        opt.step(ref, grad)
        if into_out:
            K.adam_step(params, grad, first, second, out, *_adam_constants(opt))
            params, out = out, params
        else:
            K.adam_step(params, grad, first, second, params, *_adam_constants(opt))
        assert params.dtype == dtype
    first_ref, second_ref, _ = opt._state
    assert_close(params, ref, dtype)
    assert_close(first, first_ref, dtype)
    assert_close(second, second_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("momentum", "nesterov"), [(0.9, True), (0.9, False), (0.0, False)])
def test_sgd_step_matches_sgd_over_ten_steps(dtype, momentum, nesterov):
    n = 513
    params0 = _data(dtype, n, 5, spread=1.0)
    ref = params0.copy()
    opt = SGD(learning_rate=0.05, momentum=momentum, nesterov=nesterov)
    opt.reset(n, ref.dtype)
    params, velocity, out = params0.copy(), np.zeros(n, dtype), np.empty(n, dtype)
    for step in range(10):
        grad = _data(dtype, n, 20 + step, spread=0.1)
        opt.step(ref, grad)
        K.sgd_step(params, grad, velocity, out, opt.current_learning_rate, momentum, nesterov)
        params, out = out, params
    assert_close(params, ref, dtype)
    assert_close(velocity, opt._state[0], dtype)


@pytest.mark.parametrize("dtype", [*DTYPES, np.int64])
def test_gather_rows_is_take(dtype):
    X = np.arange(60).reshape(20, 3).astype(dtype)
    idx = np.array([19, 0, 7, 7, 3])
    out = np.empty((5, 3), dtype)
    K.gather_rows(X, idx, out)
    np.testing.assert_array_equal(out, np.take(X, idx, axis=0))
    w, w_out = X[:, 0].copy(), np.empty(5, dtype)
    K.gather_rows(w, idx, w_out)
    np.testing.assert_array_equal(w_out, w[idx])


def test_gather_rows_rejects_out_of_range_rows():
    X, out = np.zeros((4, 2)), np.zeros((2, 2))
    for bad in ([0, 4], [-1, 0]):
        with pytest.raises(IndexError, match="gather_rows: a row index is out of range"):
            K.gather_rows(X, np.array(bad), out)


def _weights(n, weighted):
    if not weighted:
        return np.full(n, 1.0 / n)
    w = np.random.default_rng(6).uniform(0, 2, n)
    return w / w.sum()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_log_loss_matches_softmax_and_log_loss(dtype, weighted):
    n, k = 41, 4
    z = _data(dtype, (n, k), 7)
    z[0] = [500, -500, 0, 1]  # saturated probabilities are clipped in the loss
    codes = np.random.default_rng(8).integers(0, k, n)
    y = np.eye(k, dtype=dtype)[codes]
    scale = _weights(n, weighted).astype(dtype)
    p_ref = ACTIVATIONS["softmax"].forward(z.copy())
    loss_ref = float(LogLoss().value(y, p_ref) @ scale.astype(np.float64))
    delta_ref = (p_ref - y) * scale[:, np.newaxis]

    p, delta = np.empty_like(z), np.empty_like(z)
    loss = BK.softmax_log_loss(z, y, p, delta, scale)
    assert_close(p, p_ref, dtype)
    assert_close(delta, delta_ref, dtype)
    assert loss == pytest.approx(loss_ref, rel=RTOL[dtype])

    z_inplace, delta2 = z.copy(), np.empty_like(z)  # p_out is z; class codes
    loss2 = BK.softmax_log_loss_codes(z_inplace, codes, z_inplace, delta2, scale)
    np.testing.assert_array_equal(z_inplace, p)
    np.testing.assert_array_equal(delta2, delta)
    assert loss2 == loss


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_binary_log_loss_matches_sigmoid_and_binary_log_loss(dtype):
    n, k = 33, 3  # multilabel
    z = _data(dtype, (n, k), 9)
    z[0] = [-200, 0, 200]
    y = (np.random.default_rng(10).uniform(size=(n, k)) > 0.5).astype(dtype)
    scale = _weights(n, True).astype(dtype)
    p_ref = ACTIVATIONS["sigmoid"].forward(z.copy())
    loss_ref = float(BinaryLogLoss().value(y, p_ref) @ scale.astype(np.float64))
    p, delta = z.copy(), np.empty_like(z)
    loss = BK.sigmoid_binary_log_loss(p, y, p, delta, scale)
    assert_close(p, p_ref, dtype)
    assert_close(delta, (p_ref - y) * scale[:, np.newaxis], dtype)
    assert loss == pytest.approx(loss_ref, rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_identity_squared_error_matches_squared_error(dtype):
    n, k = 25, 2
    z0, bias, y = _data(dtype, (n, k), 11), _data(dtype, k, 12), _data(dtype, (n, k), 13)
    scale = _weights(n, True).astype(dtype)
    h = z0 + bias
    loss_ref = float(SquaredError().value(y, h) @ scale.astype(np.float64))
    z, delta = z0.copy(), np.empty_like(z0)
    loss = BK.identity_squared_error(z, bias, y, delta, scale)
    np.testing.assert_array_equal(z, h)
    assert_close(delta, (h - y) * scale[:, np.newaxis], dtype)
    assert loss == pytest.approx(loss_ref, rel=RTOL[dtype])


# -- threads -----------------------------------------------------------------------


@pytest.mark.blas_threads  # the limits it checks are the BLAS's own
def test_thread_budget_follows_blas_limits():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert BK.thread_budget() == 1
    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    expected = min([*blas, numba.config.NUMBA_NUM_THREADS])
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        expected = min(expected, int(os.environ["OMP_NUM_THREADS"]))
    assert BK.thread_budget() == max(1, expected)


def test_thread_budget_respects_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert BK.thread_budget() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")  # ignored, as BLAS ignores it
    assert BK.thread_budget() >= 1


def _budget_in_worker():
    return BK.thread_budget(), numba.config.NUMBA_NUM_THREADS


@pytest.mark.xdist_group("loky_pool")  # one worker starts joblib's process pool, once
def test_thread_budget_inside_joblib_workers_does_not_oversubscribe():
    joblib = pytest.importorskip("joblib")
    cpus = os.cpu_count() or 1
    results = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_budget_in_worker)() for _ in range(2)
    )
    # loky gives each of 2 workers cpus // 2 threads (BLAS, OpenMP and numba alike).
    for budget, numba_pool in results:
        assert budget == max(1, cpus // 2)
        assert numba_pool == max(1, cpus // 2)


@pytest.mark.xdist_group("fresh_sknet_import")  # one interpreter for the session's checks
def test_kernels_start_no_threads(numba_pool_after_kernels):
    # The kernels run on the calling thread: numba's thread pool, whose idle
    # threads would compete with the BLAS's, is never started (a fresh
    # interpreter ran bias_activation, activation_backward, adam_step,
    # gather_rows and the benchmarks' softmax_log_loss_codes).
    assert numba_pool_after_kernels["engine"] == "False"


def test_kernels_compile_uncached_when_no_cache_folder_can_be_written():
    # numba raises "no locator available" for cache=True when neither the
    # package's folder nor any cache folder is writable: emulate it.
    code = fresh.ENGINE_ONLY + (
        "import numpy as np\n"
        "from numba.core import caching\n"
        "caching.CacheImpl._locator_classes = []\n"
        "from sknet import _numba_kernels as K\n"
        "z = np.array([[-1.0, 2.0]])\n"
        "K.bias_activation(z, np.zeros(2), z, 'relu')\n"
        "print(z.tolist(), K._adam._cache.__class__.__name__)\n"
    )
    assert fresh.run(code, timeout=120).split() == ["[[0.0,", "2.0]]", "NullCache"]
