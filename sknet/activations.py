"""Activation functions, each object holding a function and its derivative.

An activation is used in two steps. ``forward(z, out)`` writes ``f(z)`` into
``out``; ``backward(z, a, grad)`` multiplies ``grad`` in place by the derivative
at ``z`` (``a`` is ``f(z)``). Built-in activations work in place on preallocated
buffers so that a training step allocates nothing: when ``inplace`` is true,
``out`` may be ``z`` itself and the derivative is computed from ``a`` alone.
``backward`` may overwrite ``z`` and ``a``: by then the network no longer needs
them.

Any object with ``forward(z)`` and ``derivative(z, a)`` methods can be used
where a name is accepted; :func:`get_activation` wraps it.
"""

import math

import numpy as np
from array_api_compat import array_namespace as _array_namespace
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


class Activation:
    """Base class of activations.

    Subclasses implement :meth:`forward` and :meth:`derivative`; the built-in
    ones also override :meth:`backward` to work in place.

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
    ...     def forward(self, z, out=None):
    ...         return np.power(z, 3, out=out)
    ...     def derivative(self, z, a):
    ...         return 3 * z**2
    >>> Cube().forward(np.array([2.0]))
    array([8.])
    """

    name = "activation"
    inplace = False
    output_only = False

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
        return self.forward(z)

    def backward_xp(self, z, a, grad, xp):
        """Return ``grad * f'(z)`` as a new array of namespace ``xp``."""
        return grad * self.derivative(z, a)

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
        return self.function.forward(z)

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
