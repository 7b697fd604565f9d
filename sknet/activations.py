"""Activation functions, each object holding a function and its derivative.

An activation is used in two steps. ``forward(z, out)`` writes ``f(z)`` into
``out``; ``backward(z, a, grad)`` multiplies ``grad`` in place by the derivative
at ``z`` (``a`` is ``f(z)``). Built-in activations work in place on preallocated
buffers so that a training step allocates nothing: when ``inplace`` is true,
``out`` may be ``z`` itself and the derivative is computed from ``a`` alone.
``backward`` may overwrite ``z`` and ``a``: by then the network no longer needs
them.

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
        "on numpy arrays. A subclass of sknet.activations.Activation or "
        "sknet.losses.Loss may instead override its array-API forms (forward_xp and "
        "backward_xp, or value_xp and gradient_xp)."
    )


def _namespace_name(xp):
    return xp.__name__.removeprefix("array_api_compat.")


class Activation:
    """Base class of activations.

    Subclasses implement :meth:`forward` and :meth:`derivative`, as plain
    functions of arrays: ``forward(z)`` need not take ``out`` (the numpy engine
    then writes the result into its buffer itself). The built-in activations
    also override :meth:`backward` to work in place.

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
        """Return ``f(z)``, written into ``out`` when given."""
        raise NotImplementedError

    def derivative(self, z, a):
        """Return the elementwise derivative ``f'(z)``, given ``a = f(z)``."""
        raise NotImplementedError

    def backward(self, z, a, grad):
        """Multiply ``grad`` in place by ``f'(z)`` and return it."""
        grad *= self.derivative(z, a)
        return grad

    # The array-API forms: ``z``, ``a`` and ``grad`` are arrays of namespace
    # ``xp`` (torch, CuPy, array_api_strict, ...), never written in place.
    # The defaults call the numpy-style methods, which suits activations
    # written with operators only.

    def forward_xp(self, z, xp):
        """Return ``f(z)`` as a new array of namespace ``xp``."""
        return _on_device(self, self.forward, xp, z)

    def backward_xp(self, z, a, grad, xp):
        """Return ``grad * f'(z)`` as a new array of namespace ``xp``."""
        return grad * _on_device(self, self.derivative, xp, z, a)

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
        if out is None:
            return z.copy()
        if out is not z:
            np.copyto(out, z)
        return out

    def derivative(self, z, a):
        return np.ones_like(a)

    def backward(self, z, a, grad):
        return grad

    def forward_xp(self, z, xp):
        return z

    def backward_xp(self, z, a, grad, xp):
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
        return expit(z, out=out)

    def derivative(self, z, a):
        return a * (1 - a)

    def backward(self, z, a, grad):
        grad *= a
        np.subtract(1, a, out=a)
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        # exp(-|z|) never overflows; the two branches are the same function.
        e = xp.exp(-xp.abs(z))
        return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))

    def backward_xp(self, z, a, grad, xp):
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
        return np.tanh(z, out=out)

    def derivative(self, z, a):
        return 1 - a**2

    def backward(self, z, a, grad):
        np.square(a, out=a)
        np.subtract(1, a, out=a)
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        return xp.tanh(z)

    def backward_xp(self, z, a, grad, xp):
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
        return np.maximum(z, 0, out=out)

    def derivative(self, z, a):
        return (a > 0).astype(a.dtype)

    def backward(self, z, a, grad):
        # Writing the comparison into the float buffer avoids a boolean
        # temporary and the slow masked assignment.
        np.greater(a, 0, out=a)
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        return xp.maximum(z, 0.0)

    def backward_xp(self, z, a, grad, xp):
        return grad * xp.astype(a > 0, grad.dtype)


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
        out = np.multiply(z, self.slope, out=out)
        return np.maximum(out, z, out=out)

    def derivative(self, z, a):
        return np.where(a > 0, 1.0, self.slope).astype(a.dtype)

    def backward(self, z, a, grad):
        np.greater(a, 0, out=a)
        a *= 1 - self.slope
        a += self.slope
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        return xp.maximum(z * self.slope, z)

    def backward_xp(self, z, a, grad, xp):
        return xp.where(a > 0, grad, grad * self.slope)

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
        if out is None:
            out, z = np.empty_like(z), z.copy()
        np.minimum(z, 0, out=out)
        np.expm1(out, out=out)
        # z is not needed by backward, so it serves as scratch.
        np.maximum(z, 0, out=z)
        out += z
        return out

    def derivative(self, z, a):
        return np.minimum(a + 1, 1)

    def backward(self, z, a, grad):
        # f'(z) = 1 for z > 0, exp(z) = a + 1 otherwise: min(a + 1, 1).
        a += 1
        np.minimum(a, 1, out=a)
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        return xp.expm1(xp.minimum(z, 0.0)) + xp.maximum(z, 0.0)

    def backward_xp(self, z, a, grad, xp):
        return grad * xp.minimum(a + 1, 1.0)


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
        if out is None:
            out, z = np.empty_like(z), z.copy()
        # log1p(exp(-|z|)) + max(z, 0) never overflows.
        np.abs(z, out=out)
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        np.maximum(z, 0, out=z)
        out += z
        return out

    def derivative(self, z, a):
        return -np.expm1(-a)

    def backward(self, z, a, grad):
        # f'(z) = sigmoid(z) = 1 - exp(-f(z)); expm1 keeps it exact for tiny a.
        np.negative(a, out=a)
        np.expm1(a, out=a)
        np.negative(a, out=a)
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        return xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0.0)

    def backward_xp(self, z, a, grad, xp):
        return grad * -xp.expm1(-a)


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

    scipy.special dispatches numpy, torch, CuPy and JAX to their own exact
    erf. A namespace it cannot convert (array_api_strict off the CPU) gets
    Abramowitz and Stegun's formula 7.1.26, whose absolute error is below
    1.5e-7.
    """
    try:
        result = erf(x)
    except (RuntimeError, TypeError, ValueError):
        result = None
    if result is not None and array_namespace_of(result) is xp:
        return result
    t = 1 / (1 + 0.3275911 * xp.abs(x))
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    magnitude = 1 - poly * xp.exp(-(x * x))
    return xp.where(x >= 0, magnitude, -magnitude)


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
        out = np.divide(z, _SQRT2, out=out)
        erf(out, out=out)
        out += 1
        out *= 0.5
        out *= z
        return out

    def derivative(self, z, a):
        cdf = 0.5 * (1 + erf(z / _SQRT2))
        return cdf + z * _INV_SQRT_2PI * np.exp(-0.5 * z**2)

    def backward(self, z, a, grad):
        # f'(z) = Phi(z) + z * phi(z): a receives z * phi(z), z receives Phi(z).
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

    def forward_xp(self, z, xp):
        return 0.5 * (1 + _erf(z / _SQRT2, xp)) * z

    def backward_xp(self, z, a, grad, xp):
        cdf = 0.5 * (1 + _erf(z / _SQRT2, xp))
        return grad * (z * (xp.exp(-0.5 * (z * z)) * _INV_SQRT_2PI) + cdf)


class Softmax(Activation):
    """The softmax over each row, for the output layer of a multiclass network.

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
        out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def derivative(self, z, a):
        raise NotImplementedError("softmax has a Jacobian, not an elementwise derivative")

    def backward(self, z, a, grad):
        # The vector-Jacobian product a * (grad - <grad, a>) row by row.
        dot = np.einsum("ij,ij->i", grad, a)[:, np.newaxis]
        grad -= dot
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        return e / xp.sum(e, axis=1, keepdims=True)

    def backward_xp(self, z, a, grad, xp):
        return (grad - xp.sum(grad * a, axis=1, keepdims=True)) * a


class Exponential(Activation):
    """The exponential ``f(z) = exp(z)``, for a Poisson output layer.

    Inputs are capped so that the output stays finite.

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
        cap = np.log(np.finfo(z.dtype).max) - 1
        out = np.minimum(z, cap, out=out)
        return np.exp(out, out=out)

    def derivative(self, z, a):
        return a

    def backward(self, z, a, grad):
        grad *= a
        return grad

    def forward_xp(self, z, xp):
        cap = math.log(xp.finfo(z.dtype).max) - 1
        return xp.exp(xp.minimum(z, cap))

    def backward_xp(self, z, a, grad, xp):
        return grad * a


class _UserActivation(Activation):
    """Adapts an object with ``forward(z)`` and ``derivative(z, a)``."""

    def __init__(self, function):
        self.function = function
        self.name = getattr(function, "name", type(function).__name__)

    def forward(self, z, out=None):
        result = self.function.forward(z)
        if out is None:
            return np.asarray(result, dtype=z.dtype)
        np.copyto(out, result)
        return out

    def derivative(self, z, a):
        return self.function.derivative(z, a)

    def forward_xp(self, z, xp):
        return _on_device(self.function, self.function.forward, xp, z)

    def backward_xp(self, z, a, grad, xp):
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
