"""Activation functions, each object holding a function and its derivative.

An activation is used in two steps. ``forward(z, out=None)`` returns ``f(z)``;
``backward(z, a, grad)`` returns ``grad`` times the derivative at ``z`` (``a``
is ``f(z)``). Each built-in formula is written once, in array-API form
(``xp = array_namespace(z)``), so it runs on numpy, torch, CuPy,
array_api_strict... on any device; the hidden-layer activations carry a numpy
branch inside the same method that works in place on the buffers a fit makes
once (scikit-learn's ``_expit(x, out=None, xp=None)`` pattern), so that a
numpy training step allocates nothing. With numpy arrays, ``forward`` writes
into ``out`` when given (``out`` may be ``z`` itself when ``inplace`` is true)
and ``backward`` works in place: its result is ``grad``, and ``z`` and ``a``
may be overwritten (by then the network no longer needs them). Any other
library's arrays are never written in place. Scalars enter as Python numbers
in operators and ``where``: nothing is uploaded to a device.

Any object with ``forward(z)`` and ``derivative(z, a)`` methods can be used
where a name is accepted; :func:`get_activation` wraps it. A subclass of
:class:`Activation` may define ``forward(z)`` alone too: the ``out`` the numpy
engine passes is then handled for it. On a device (any array-API library),
those methods receive that library's arrays and must return arrays of the same
library on the same device: operators and ``array_namespace(z)`` functions
work everywhere, numpy's functions only on numpy arrays.
"""

import functools
import inspect
import math

import numpy as np
from array_api_compat import array_namespace as _array_namespace
from array_api_compat import device as _device
from array_api_compat import is_cupy_array, is_jax_array, is_torch_array
from scipy.special import erf, expit

from ._registry import lookup, registered_name

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "Activation",
    "Exponential",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_activation",
]


def _accepts_out(method):
    """Whether ``method`` takes an ``out`` keyword (or any keyword)."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read: assume the full protocol
        return True
    return any(p.name == "out" or p.kind is p.VAR_KEYWORD for p in parameters)


def _with_out(method):
    """``method(self, *args)`` given the engine's ``out=`` keyword.

    The result is written into ``out`` when the engine gives one (numpy's
    buffers); without it, a numpy input gets a numpy array of its dtype back,
    any other array what ``method`` returned.
    """

    @functools.wraps(method)
    def with_out(self, *args, out=None):
        if not isinstance(args[-1], np.ndarray):
            xp = array_namespace_of(args[-1])
            if xp is not None:  # another library's arrays: checked, never written
                return _on_device(self, method.__get__(self), xp, *args)
        result = method(self, *args)
        if out is not None:
            np.copyto(out, result)
            return out
        if isinstance(args[-1], np.ndarray):
            return np.asarray(result, dtype=args[-1].dtype)
        return result

    # What it now accepts, for whoever reads the signature (help, _accepts_out).
    signature = inspect.signature(method)
    out = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)
    with_out.__signature__ = signature.replace(parameters=[*signature.parameters.values(), out])
    return with_out


def _adapt_out(cls, name):
    """Give ``cls.<name>``, defined without ``out``, the engine's ``out=`` keyword."""
    method = cls.__dict__.get(name)
    if inspect.isfunction(method) and not _accepts_out(method):
        setattr(cls, name, _with_out(method))


def _adapt_device(cls, name):
    """Check ``cls.<name>`` (a user's method) where it receives another library's arrays."""
    method = cls.__dict__.get(name)
    if not inspect.isfunction(method) or getattr(method, "_device_checked", False):
        return

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        if not kwargs and not isinstance(args[-1], np.ndarray):
            xp = array_namespace_of(args[-1])
            if xp is not None:
                return _on_device(self, method.__get__(self), xp, *args)
        return method(self, *args, **kwargs)

    checked._device_checked = True
    setattr(cls, name, checked)


def _on_device(owner, method, xp, *arrays):
    """``method(*arrays)`` for arrays of namespace ``xp``, checked.

    A user's activation or loss written with numpy's functions fails on
    another library's arrays in ways that do not say why (no ``astype``, no
    conversion from the device) or returns numpy arrays; both become a
    TypeError that says what a device needs. Only metadata is read: nothing
    moves between host and device.
    """
    try:
        result = method(*arrays)
    except (AttributeError, RuntimeError, TypeError) as exc:
        what = f"raised {type(exc).__name__}: {str(exc).rstrip('.')}"
        raise _device_error(owner, method, xp, arrays, what) from exc
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return result  # a constant broadcasts on every library
    namespace = array_namespace_of(result)
    if namespace is None or _namespace_name(namespace) != _namespace_name(xp):
        kind = type(result)
        got = kind.__qualname__
        if kind.__module__ != "builtins":
            got = f"{kind.__module__}.{got}"
        raise _device_error(owner, method, xp, arrays, f"returned a {got}")
    if _device(result) != _device(arrays[-1]):
        raise _device_error(
            owner, method, xp, arrays, f"returned an array on device {_device(result)!r}"
        )
    return result


def _device_error(owner, method, xp, arrays, what):
    """The TypeError saying what a user's method must do on a device."""
    return TypeError(
        f"{owner!r}.{method.__name__}(), given {_namespace_name(xp)} arrays on device "
        f"{_device(arrays[-1])!r}, {what}. On a device it must return arrays of the input's "
        "library on the input's device: write it with operators and the array-API "
        "functions of the input's namespace (xp = array_api_compat.array_namespace(z); "
        "xp.exp, xp.sum(..., axis=1), xp.where; device=array_api_compat.device(z) for "
        "new arrays), which work on numpy arrays too; numpy's own functions only work "
        "on numpy arrays."
    )


def _namespace(array):
    """The array-API namespace of ``array``: numpy itself for numpy arrays.

    numpy 2 speaks the array API in its main namespace; asking
    ``array_namespace`` (about 25 us a call) and going through its wrappers
    would cost a small numpy step more than its arithmetic.
    """
    if isinstance(array, np.ndarray):
        return np
    return _array_namespace(array)


def _namespace_name(xp):
    return xp.__name__.removeprefix("array_api_compat.")


class Activation:
    """Base class of activations.

    Subclasses implement :meth:`forward` and :meth:`derivative`, as plain
    functions of arrays: ``forward(z)`` need not take ``out`` (the numpy engine
    then writes the result into its buffer itself). The built-in activations
    write :meth:`forward` and :meth:`backward` once each, in array-API form,
    with a numpy branch inside the same method where working in place pays;
    their :meth:`derivative` is :meth:`backward` applied to ones.

    Attributes
    ----------
    name : str
        The name under which the activation is registered.
    inplace : bool
        True when ``forward`` may write over its input and the derivative
        needs only the output.
    output_only : bool
        True for activations that only make sense on the output layer.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import Activation
    >>> class Cube(Activation):
    ...     name = "cube"
    ...     def forward(self, z):
    ...         return z**3
    ...     def derivative(self, z, a):
    ...         return 3 * z**2
    >>> Cube().forward(np.array([2.0]))
    array([8.])
    """

    name = "activation"
    inplace = False
    output_only = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The documented contract is forward(z); the numpy engine passes out=.
        _adapt_out(cls, "forward")

    def forward(self, z, out=None):
        """Return ``f(z)``, written into ``out`` when given (numpy only)."""
        raise NotImplementedError

    def derivative(self, z, a):
        """Return the elementwise derivative ``f'(z)``, given ``a = f(z)``.

        Never writes into ``z`` or ``a``. An activation that defines only
        :meth:`backward` gets it as ``backward`` applied to ones.
        """
        if type(self).backward is Activation.backward:
            raise NotImplementedError
        ones = _namespace(a).ones_like(a)
        if isinstance(ones, np.ndarray):  # numpy's backward spends z and a
            z, a = np.array(z, copy=True), a.copy()
        return self.backward(z, a, ones)

    def backward(self, z, a, grad):
        """Return ``grad * f'(z)``.

        numpy arrays are worked on in place: the result is ``grad`` itself,
        and ``z`` and ``a`` may be overwritten (by then the network no
        longer needs them). Any other library's arrays are never written:
        the result is a new array.
        """
        if isinstance(grad, np.ndarray):
            grad *= self.derivative(z, a)
            return grad
        return grad * _on_device(self, self.derivative, _namespace(grad), z, a)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Activation):
    """The identity ``f(z) = z``, for linear layers and regression outputs.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import Identity
    >>> Identity().forward(np.array([-1.0, 2.0]))
    array([-1.,  2.])
    """

    name = "identity"
    inplace = True

    def forward(self, z, out=None):
        if out is not None and out is not z:
            np.copyto(out, z)
            return out
        return z

    def backward(self, z, a, grad):
        return grad


class Sigmoid(Activation):
    """The logistic sigmoid ``f(z) = 1 / (1 + exp(-z))``, computed without overflow.

    Registered as ``"sigmoid"`` and as scikit-learn's ``"logistic"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import Sigmoid
    >>> Sigmoid().forward(np.array([0.0, 1000.0, -1000.0]))
    array([0.5, 1. , 0. ])
    """

    name = "sigmoid"
    inplace = True

    def forward(self, z, out=None):
        if isinstance(z, np.ndarray):  # scipy's expit, in place
            return expit(z, out=out)
        # exp(-|z|) never overflows; the two branches are the same function.
        xp = _namespace(z)
        e = xp.exp(-xp.abs(z))
        return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, z, a, grad):
        # f'(z) = a (1 - a)
        if isinstance(grad, np.ndarray):  # in place, a as scratch
            grad *= a
            np.subtract(1, a, out=a)
            grad *= a
            return grad
        return grad * a * (1 - a)


class Tanh(Activation):
    """The hyperbolic tangent.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import Tanh
    >>> Tanh().forward(np.array([0.0]))
    array([0.])
    """

    name = "tanh"
    inplace = True

    def forward(self, z, out=None):
        if isinstance(z, np.ndarray):
            return np.tanh(z, out=out)
        return _namespace(z).tanh(z)

    def backward(self, z, a, grad):
        # f'(z) = 1 - a^2
        if isinstance(grad, np.ndarray):  # in place, a as scratch
            np.square(a, out=a)
            np.subtract(1, a, out=a)
            grad *= a
            return grad
        return grad * (1 - a * a)


class ReLU(Activation):
    """The rectified linear unit ``f(z) = max(z, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import ReLU
    >>> ReLU().forward(np.array([-2.0, 3.0]))
    array([0., 3.])
    """

    name = "relu"
    inplace = True

    def forward(self, z, out=None):
        if isinstance(z, np.ndarray):
            return np.maximum(z, 0, out=out)
        return _positive_part(z, _namespace(z))

    def backward(self, z, a, grad):
        # f'(z) = 1 where a > 0, else 0
        if isinstance(grad, np.ndarray):
            # Writing the comparison into the float buffer avoids a boolean
            # temporary and the slow masked assignment.
            np.greater(a, 0, out=a)
            grad *= a
            return grad
        return grad * _namespace(grad).astype(a > 0, grad.dtype)


class LeakyReLU(Activation):
    """The leaky ReLU ``f(z) = z if z > 0 else slope * z``.

    Parameters
    ----------
    slope : float, default=0.01
        The slope for negative inputs, between 0 and 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import LeakyReLU
    >>> LeakyReLU(slope=0.1).forward(np.array([-2.0, 3.0]))
    array([-0.2,  3. ])
    """

    name = "leaky_relu"

    def __init__(self, slope=0.01):
        if not 0 <= slope < 1:
            raise ValueError(f"slope must be in [0, 1), got {slope!r}.")
        self.slope = slope

    def forward(self, z, out=None):
        # max(slope z, z): the slope is below 1
        if isinstance(z, np.ndarray):
            out = np.multiply(z, self.slope, out=out)
            return np.maximum(out, z, out=out)
        return _namespace(z).maximum(z * self.slope, z)

    def backward(self, z, a, grad):
        # f'(z) = 1 where a > 0, else slope
        if isinstance(grad, np.ndarray):  # in place, a as scratch
            np.greater(a, 0, out=a)
            a *= 1 - self.slope
            a += self.slope
            grad *= a
            return grad
        return _namespace(grad).where(a > 0, grad, grad * self.slope)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope!r})"


class ELU(Activation):
    """The exponential linear unit ``f(z) = z if z > 0 else exp(z) - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import ELU
    >>> ELU().forward(np.array([0.0, 2.0]))
    array([0., 2.])
    """

    name = "elu"

    def forward(self, z, out=None):
        # expm1(min(z, 0)) + max(z, 0): no overflow for large z
        if isinstance(z, np.ndarray):
            if out is None:
                out, z = np.empty_like(z), z.copy()
            np.minimum(z, 0, out=out)
            np.expm1(out, out=out)
            # z is not needed by backward, so it serves as scratch.
            np.maximum(z, 0, out=z)
            out += z
            return out
        positive = _positive_part(z, _namespace(z))
        return _namespace(z).expm1(z - positive) + positive

    def backward(self, z, a, grad):
        # f'(z) = 1 for z > 0, exp(z) = a + 1 otherwise: min(a + 1, 1),
        # or exp(min(z, 0)).
        if isinstance(grad, np.ndarray):  # in place, a as scratch
            a += 1
            np.minimum(a, 1, out=a)
            grad *= a
            return grad
        xp = _namespace(z)
        return grad * xp.exp(z - _positive_part(z, xp))


class Softplus(Activation):
    """The softplus ``f(z) = log(1 + exp(z))``, computed without overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import Softplus
    >>> Softplus().forward(np.array([0.0, 1000.0]))
    array([6.93147181e-01, 1.00000000e+03])
    """

    name = "softplus"

    def forward(self, z, out=None):
        # log1p(exp(-|z|)) + max(z, 0) never overflows.
        if isinstance(z, np.ndarray):
            if out is None:
                out, z = np.empty_like(z), z.copy()
            np.abs(z, out=out)
            np.negative(out, out=out)
            np.exp(out, out=out)
            np.log1p(out, out=out)
            np.maximum(z, 0, out=z)
            out += z
            return out
        xp = _namespace(z)
        magnitude = xp.abs(z)
        return xp.log1p(xp.exp(-magnitude)) + (z + magnitude) * 0.5

    def backward(self, z, a, grad):
        # f'(z) = sigmoid(z) = 1 - exp(-f(z)); expm1 keeps it exact for tiny a.
        if isinstance(grad, np.ndarray):  # in place, a as scratch
            np.negative(a, out=a)
            np.expm1(a, out=a)
            np.negative(a, out=a)
            grad *= a
            return grad
        return grad * -_namespace(a).expm1(-a)


def _positive_part(z, xp):
    """``max(z, 0)`` with operators only: ``(z + |z|) / 2``.

    On a device, ``maximum(z, 0.0)`` makes a tensor of the Python 0 on the
    host for every call, array_api_compat's generic ``clip`` (CuPy) assigns
    through boolean masks, and ``where`` runs 10x slower than either on
    PyTorch's CPU; these three operators are exact (``2z`` and the halving
    are, below half the dtype's largest number) and keep NaN.
    """
    return (z + xp.abs(z)) * 0.5


def array_namespace_of(array):
    """The array-API namespace of ``array``, or None for a non-array."""
    try:
        return _array_namespace(array)
    except TypeError:
        return None


# Python floats, not numpy float64 scalars: under numpy's promotion rules a
# float64 scalar would turn float32 arrays into float64 ones.
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _erf(x, xp):
    """The error function in namespace ``xp``.

    numpy takes scipy's erf; torch, CuPy and JAX their own exact one (scipy's
    ufunc would take their arrays through numpy, to the host and back). Any
    other namespace (array_api_strict) gets Abramowitz and Stegun's formula
    7.1.26, whose absolute error is below 1.5e-7.
    """
    if isinstance(x, np.ndarray):
        return erf(x)
    native = _native_erf(x)
    if native is not None:
        return native(x)
    t = 1 / (1 + 0.3275911 * xp.abs(x))
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    magnitude = 1 - poly * xp.exp(-(x * x))
    return xp.where(x >= 0, magnitude, -magnitude)


def _native_erf(x):
    """The array library's own erf for ``x``, or None."""
    # Imported only for arrays of that library, which is then imported already.
    if is_torch_array(x):
        import torch  # noqa: PLC0415

        return torch.special.erf
    if is_cupy_array(x):
        import cupyx.scipy.special  # noqa: PLC0415

        return cupyx.scipy.special.erf
    if is_jax_array(x):
        import jax.scipy.special  # noqa: PLC0415

        return jax.scipy.special.erf
    return None


class GELU(Activation):
    """The Gaussian error linear unit ``f(z) = z * Phi(z)`` (exact, with erf).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import GELU
    >>> GELU().forward(np.array([0.0, 10.0]))
    array([ 0., 10.])
    """

    name = "gelu"

    def forward(self, z, out=None):
        # 0.5 (1 + erf(z / sqrt 2)) z
        if isinstance(z, np.ndarray):
            out = np.divide(z, _SQRT2, out=out)
            erf(out, out=out)
            out += 1
            out *= 0.5
            out *= z
            return out
        return 0.5 * (1 + _erf(z / _SQRT2, _namespace(z))) * z

    def backward(self, z, a, grad):
        # f'(z) = Phi(z) + z * phi(z)
        if isinstance(grad, np.ndarray):
            # In place: a receives z * phi(z), z receives Phi(z).
            np.square(z, out=a)
            a *= -0.5
            np.exp(a, out=a)
            a *= _INV_SQRT_2PI
            a *= z
            z /= _SQRT2
            erf(z, out=z)
            z += 1
            z *= 0.5
            a += z
            grad *= a
            return grad
        xp = _namespace(z)
        cdf = 0.5 * (1 + _erf(z / _SQRT2, xp))
        return grad * (z * (xp.exp(-0.5 * (z * z)) * _INV_SQRT_2PI) + cdf)


class Softmax(Activation):
    """The softmax over each row, for the output layer of a multiclass network.

    Written once in array-API form: it runs on (batch x outputs) arrays,
    where an in-place numpy form would not pay.

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import Softmax
    >>> Softmax().forward(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    array([[0.5, 0.5],
           [1. , 0. ]])
    """

    name = "softmax"
    inplace = True
    output_only = True

    def forward(self, z, out=None):
        xp = _namespace(z)
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        return _into(out, e / xp.sum(e, axis=1, keepdims=True))

    def derivative(self, z, a):
        raise NotImplementedError("softmax has a Jacobian, not an elementwise derivative")

    def backward(self, z, a, grad):
        # The vector-Jacobian product a * (grad - <grad, a>) row by row.
        xp = _namespace(grad)
        return _into(grad, (grad - xp.sum(grad * a, axis=1, keepdims=True)) * a)


class Exponential(Activation):
    """The exponential ``f(z) = exp(z)``, for a Poisson output layer.

    Inputs are capped so that the output stays finite. Written once in
    array-API form (an output activation, on (batch x outputs) arrays).

    Examples
    --------
    >>> import numpy as np
    >>> from sknet.activations import Exponential
    >>> Exponential().forward(np.array([0.0]))
    array([1.])
    """

    name = "exp"
    inplace = True
    output_only = True

    def forward(self, z, out=None):
        xp = _namespace(z)
        cap = math.log(float(xp.finfo(z.dtype).max)) - 1
        return _into(out, xp.exp(xp.where(z > cap, cap, z)))  # NaN stays NaN

    def backward(self, z, a, grad):
        # f'(z) = exp(z) = a
        return _into(grad, grad * a)


def _into(out, result):
    """``result``, copied into ``out`` when that is a numpy buffer."""
    if not isinstance(out, np.ndarray) or out is result:
        return result
    np.copyto(out, result)
    return out


class _UserActivation(Activation):
    """Adapts an object with ``forward(z)`` and ``derivative(z, a)``."""

    def __init__(self, function):
        self.function = function
        self.name = getattr(function, "name", type(function).__name__)

    def forward(self, z, out=None):
        if not isinstance(z, np.ndarray):
            return _on_device(self.function, self.function.forward, _namespace(z), z)
        return _into(out, np.asarray(self.function.forward(z), dtype=z.dtype))

    def derivative(self, z, a):
        return self.function.derivative(z, a)

    def backward(self, z, a, grad):
        if isinstance(grad, np.ndarray):
            grad *= self.function.derivative(z, a)
            return grad
        xp = _namespace(grad)
        return grad * _on_device(self.function, self.function.derivative, xp, z, a)

    def __repr__(self):
        return repr(self.function)


ACTIVATIONS = {
    "identity": Identity(),
    "sigmoid": Sigmoid(),
    "logistic": Sigmoid(),
    "tanh": Tanh(),
    "relu": ReLU(),
    "leaky_relu": LeakyReLU(),
    "elu": ELU(),
    "softplus": Softplus(),
    "gelu": GELU(),
    "softmax": Softmax(),
    "exp": Exponential(),
}


def get_activation(activation):
    """Return the activation object for a name or an activation-like object.

    Parameters
    ----------
    activation : str or object
        A name from :data:`ACTIVATIONS`, an :class:`Activation`, or any object
        with ``forward(z)`` and ``derivative(z, a)`` methods.

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.

    Examples
    --------
    >>> from sknet.activations import get_activation
    >>> get_activation("logistic")
    Sigmoid()
    """
    if isinstance(activation, str):
        return lookup(ACTIVATIONS, activation, "activation")
    if isinstance(activation, Activation):
        return activation
    if callable(getattr(activation, "forward", None)) and callable(
        getattr(activation, "derivative", None)
    ):
        return _UserActivation(activation)
    raise ValueError(
        f"activation must be a name from {sorted(ACTIVATIONS)} or an object with "
        f"forward(z) and derivative(z, a) methods, got {activation!r}."
    )


def activation_name(activation):
    """Return the registry name of a built-in activation, or None."""
    return registered_name(ACTIVATIONS, activation)
