"""Activations: forward against plain numpy formulas, backward against derivative."""

import inspect
import math
import pickle
import warnings

import numpy as np
import pytest
from scipy.special import erf

from sknet.activations import (
    ACTIVATIONS,
    ELU,
    GELU,
    Activation,
    Exponential,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    activation_name,
    get_activation,
)

# Plain, unoptimised reference formulas (float64).
REFERENCE = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": lambda z: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "softplus": lambda z: np.log(1 + np.exp(z)),
    "gelu": lambda z: z * 0.5 * (1 + erf(z / math.sqrt(2))),
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
    "exp": np.exp,
}
ELEMENTWISE = sorted(name for name in ACTIVATIONS if name != "softmax")


def _z(shape=(6, 5), seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-4, 4, size=shape)
    # Keep away from the kinks of relu / leaky_relu / elu at 0.
    z[np.abs(z) < 0.05] = 0.3
    return z.astype(dtype)


def test_registry_has_the_documented_names():
    assert set(ACTIVATIONS) == set(REFERENCE)
    assert isinstance(ACTIVATIONS["logistic"], Sigmoid)
    assert isinstance(ACTIVATIONS["identity"], Identity)
    assert ACTIVATIONS["softmax"].output_only and ACTIVATIONS["exp"].output_only
    hidden_ok = [name for name, act in ACTIVATIONS.items() if not act.output_only]
    assert sorted(hidden_ok) == sorted(set(REFERENCE) - {"softmax", "exp"})


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_matches_plain_formula(name):
    act = ACTIVATIONS[name]
    z = _z()
    expected = REFERENCE[name](z.copy())
    np.testing.assert_allclose(act.forward(z.copy()), expected, rtol=1e-12, atol=1e-14)
    # With an output buffer (the training path); in place when allowed.
    out = np.empty_like(z)
    result = act.forward(z.copy(), out=out)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    if act.inplace:
        buffer = z.copy()
        assert act.forward(buffer, out=buffer) is buffer
        np.testing.assert_allclose(buffer, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_without_out_leaves_input_alone(name):
    z = _z()
    z_copy = z.copy()
    ACTIVATIONS[name].forward(z)
    np.testing.assert_array_equal(z, z_copy)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_finite_differences(name):
    act = ACTIVATIONS[name]
    z = _z()
    h = 1e-6
    numeric = (REFERENCE[name](z + h) - REFERENCE[name](z - h)) / (2 * h)
    analytic = act.derivative(z, act.forward(z.copy()))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_equals_grad_times_derivative(name):
    act = ACTIVATIONS[name]
    z = _z()
    a = act.forward(z.copy())
    grad = np.random.default_rng(1).normal(size=z.shape)
    expected = grad * act.derivative(z.copy(), a.copy())
    # backward may overwrite z and a, so it gets copies.
    result = act.backward(z.copy(), a.copy(), grad)
    assert result is grad  # in place
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-14)


def test_softmax_backward_is_the_jacobian_vector_product():
    act = Softmax()
    z = _z((4, 3))
    a = act.forward(z.copy())
    grad = np.random.default_rng(2).normal(size=z.shape)
    expected = np.array([g @ (np.diag(p) - np.outer(p, p)) for g, p in zip(grad, a, strict=True)])
    np.testing.assert_allclose(act.backward(z.copy(), a.copy(), grad.copy()), expected, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="Jacobian"):
        act.derivative(z, a)


def test_softmax_rows_sum_to_one_and_shift_invariant():
    z = _z((5, 4))
    p = Softmax().forward(z.copy())
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(Softmax().forward(z + 123.0), p, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_are_finite_and_silent(name, dtype):
    act = ACTIVATIONS[name]
    z = np.array([[-1000.0, 1000.0, 0.0], [1000.0, -1000.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            out = act.forward(z.copy())
            if name != "softmax":
                deriv = act.derivative(z.copy(), out.copy())
                assert np.isfinite(deriv).all()
            grad = act.backward(z.copy(), out.copy(), np.ones_like(z))
    assert out.dtype == dtype and grad.dtype == dtype
    assert np.isfinite(out).all() and np.isfinite(grad).all()


def test_stable_values_at_plus_minus_1000():
    big = np.array([[-1000.0, 1000.0]])
    np.testing.assert_array_equal(Sigmoid().forward(big.copy()), [[0.0, 1.0]])
    np.testing.assert_array_equal(Softplus().forward(big.copy()), [[0.0, 1000.0]])
    np.testing.assert_array_equal(Softmax().forward(big.copy()), [[0.0, 1.0]])
    # exp is capped just below the largest float so it never overflows.
    capped = Exponential().forward(big.copy())
    assert capped[0, 0] == 0.0 and np.isfinite(capped[0, 1]) and capped[0, 1] > 1e300
    # softplus keeps full relative precision for very negative inputs.
    np.testing.assert_allclose(Softplus().forward(np.array([-50.0])), [np.exp(-50.0)], rtol=1e-14)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_float32_stays_float32(name):
    act = ACTIVATIONS[name]
    z = _z(dtype=np.float32)
    out = act.forward(z.copy())
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, REFERENCE[name](z.astype(np.float64)), rtol=2e-6, atol=2e-6)
    buffer = np.empty_like(z)
    assert act.forward(z.copy(), out=buffer).dtype == np.float32


def test_leaky_relu_slope():
    act = LeakyReLU(slope=0.2)
    z = np.array([-2.0, -0.5, 0.5, 3.0])
    np.testing.assert_allclose(act.forward(z.copy()), [-0.4, -0.1, 0.5, 3.0])
    np.testing.assert_allclose(act.derivative(z, act.forward(z.copy())), [0.2, 0.2, 1.0, 1.0])
    np.testing.assert_allclose(
        act.backward(z.copy(), act.forward(z.copy()), np.ones(4)), [0.2, 0.2, 1.0, 1.0]
    )
    assert repr(act) == "LeakyReLU(slope=0.2)"
    with pytest.raises(ValueError, match=r"slope must be in \[0, 1\)"):
        LeakyReLU(slope=1.5)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("identity", Identity),
        ("sigmoid", Sigmoid),
        ("logistic", Sigmoid),
        ("tanh", Tanh),
        ("relu", ReLU),
        ("leaky_relu", LeakyReLU),
        ("elu", ELU),
        ("softplus", Softplus),
        ("gelu", GELU),
        ("softmax", Softmax),
        ("exp", Exponential),
        ("ReLU", ReLU),
    ],
)
def test_get_activation_by_name(name, cls):
    assert isinstance(get_activation(name), cls)


def test_get_activation_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown activation 'swish'; valid names are") as info:
        get_activation("swish")
    for name in ACTIVATIONS:
        assert repr(name) in str(info.value)


def test_get_activation_rejects_other_objects():
    with pytest.raises(ValueError, match=r"forward\(z\) and derivative\(z, a\)"):
        get_activation(42)


class Cube:
    """A user activation following the protocol, not an Activation subclass."""

    name = "cube"

    def forward(self, z):
        return z**3

    def derivative(self, z, a):
        return 3 * z**2


def test_user_activation_protocol():
    act = get_activation(Cube())
    assert isinstance(act, Activation) and act.name == "cube"
    z = _z()
    np.testing.assert_allclose(act.forward(z), z**3)
    out = np.empty_like(z)
    assert act.forward(z, out=out) is out
    np.testing.assert_allclose(out, z**3)
    grad = np.ones_like(z)
    np.testing.assert_allclose(act.backward(z, out, grad), 3 * z**2)
    # An Activation subclass is used as it is.
    leaky = LeakyReLU(0.3)
    assert get_activation(leaky) is leaky


def test_activation_name_and_pickling():
    for _name, act in ACTIVATIONS.items():
        # An alias ("logistic") is saved under its object's own name ("sigmoid").
        assert activation_name(act) == act.name
        assert get_activation(act.name).name == act.name
        clone = pickle.loads(pickle.dumps(act))
        z = _z()
        np.testing.assert_array_equal(clone.forward(z.copy()), act.forward(z.copy()))
    assert activation_name(LeakyReLU(0.3)) is None


# -- your own activation, as the user guide writes it, on numpy and on devices ------


class CubeSubclass(Activation):
    """The user guide's form: a subclass with forward(z) and derivative(z, a) only."""

    name = "cube"

    def forward(self, z):
        return z * z * z / 10

    def derivative(self, z, a):
        return 3 * z * z / 10


class CubeObject:
    """The same as a plain object."""

    name = "cube"

    def forward(self, z):
        return z * z * z / 10

    def derivative(self, z, a):
        return 3 * z * z / 10


class SoftsignNumpyOnly:
    """Written with numpy's functions: fine on numpy, not on another library's arrays."""

    def forward(self, z):
        return z / (1 + np.abs(z))

    def derivative(self, z, a):
        return np.square(1 - np.abs(a))


def _device_arrays(where):
    """A converter to the arrays of ``where`` (skipping when its library is missing)."""
    if where == "numpy":
        return lambda a: a
    if where == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)
        return torch.asarray
    xps = pytest.importorskip("array_api_strict")
    return lambda a: xps.asarray(a, device=xps.Device("device1"))


def _to_numpy(array):
    from sknet.backends import to_numpy

    return to_numpy(array)


def _fit_with(activation, where, dtype="float64"):
    from sknet import Network

    convert = _device_arrays(where)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(dtype)
    Y = rng.normal(size=(40, 1)).astype(dtype)
    net = Network(3, random_state=0).add_layer(5, activation).add_layer(1, "identity")
    net.fit(convert(X), convert(Y), epochs=3, batch_size=10)
    return _to_numpy(net.predict(convert(X)))


def test_subclass_defining_forward_without_out_works_as_written():
    z = _z()
    act = CubeSubclass()
    assert get_activation(act) is act
    np.testing.assert_array_equal(act.forward(z), z * z * z / 10)
    # The numpy engine writes into its buffers; the class still reads as written.
    out = np.empty_like(z)
    assert act.forward(z, out=out) is out
    np.testing.assert_array_equal(out, z * z * z / 10)
    assert CubeSubclass.forward.__name__ == "forward"
    assert str(inspect.signature(CubeSubclass.forward)) == "(self, z, *, out=None)"
    assert act.forward(z.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_subclass_without_out_trains_like_the_plain_object(dtype):
    expected = _fit_with(CubeObject(), "numpy", dtype)
    assert expected.dtype == dtype
    np.testing.assert_array_equal(_fit_with(CubeSubclass(), "numpy", dtype), expected)


@pytest.mark.parametrize("where", ["torch", "array_api_strict"])
@pytest.mark.parametrize("make", [CubeSubclass, CubeObject], ids=["subclass", "object"])
def test_user_activations_train_on_devices_as_on_numpy(make, where):
    expected = _fit_with(make(), "numpy")
    np.testing.assert_allclose(_fit_with(make(), where), expected, rtol=1e-12, atol=1e-12)


def test_numpy_only_activation_says_what_a_device_needs():
    xps = pytest.importorskip("array_api_strict")
    # It trains on numpy...
    _fit_with(SoftsignNumpyOnly(), "numpy")
    # ...and on array_api_strict's second device numpy cannot read the arrays.
    match = r"forward\(\), given array_api_strict arrays on device .*device1.*, raised"
    with pytest.raises(TypeError, match=match) as info:
        _fit_with(SoftsignNumpyOnly(), "array_api_strict")
    message = str(info.value)
    assert "SoftsignNumpyOnly" in message and "array_namespace" in message
    assert "device1" in message
    assert isinstance(info.value.__cause__, RuntimeError)  # numpy's own error, kept
    del xps


def test_numpy_results_on_torch_are_refused_with_what_is_needed():
    # numpy's functions accept CPU tensors and return numpy arrays: a model
    # would silently leave the device (and fail on a GPU).
    pytest.importorskip("torch")

    class NumpyResult(CubeObject):
        def derivative(self, z, a):
            return np.where(a > 0, 1.0, 0.5)

    match = r"derivative\(\), given torch arrays on device .*, returned a numpy.ndarray\."
    with pytest.raises(TypeError, match=match):
        _fit_with(NumpyResult(), "torch")


def test_results_on_another_device_are_refused():
    xps = pytest.importorskip("array_api_strict")

    class OtherDevice(CubeSubclass):
        def forward(self, z):
            return xps.asarray(z * z, device=xps.Device("CPU_DEVICE"))

    match = "returned an array on device .*CPU_DEVICE.*on the input's device"
    with pytest.raises(TypeError, match=match):
        _fit_with(OtherDevice(), "array_api_strict")


# -- on a device, scalars are no uploads: Python numbers in operators and where ------


def _host_scalars_made(function, *arrays):
    """The aten ops of ``function(*arrays)`` that cross between host and device.

    ``lift_fresh`` is a Python number made a tensor on the host (what
    ``maximum(z, 0.0)`` does for every call); ``_local_scalar_dense`` is a
    read of a device value (``float``, ``bool``, ``item``).
    """
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):
        ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    del torch
    with Record() as record:
        function(*arrays)
    crossing = ("lift_fresh", "_local_scalar_dense")
    return [op for op in record.ops if op.split(".")[1] in crossing]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_upload_no_scalars_on_torch(name, dtype):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    act = ACTIVATIONS[name]
    z = torch.asarray(_z(dtype=dtype))
    a = act.forward(z)
    grad = torch.ones_like(z)
    assert _host_scalars_made(act.forward, z) == []
    assert _host_scalars_made(act.backward, z, a, grad) == []
    # ...and they compute what numpy computes.
    expected = act.forward(_z(dtype=dtype))
    np.testing.assert_allclose(a.numpy(), expected, rtol=1e-6 if dtype == "float32" else 1e-14)
