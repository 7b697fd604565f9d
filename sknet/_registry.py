"""Name look-ups shared by the registries of activations, losses and optimizers.

A registry maps lower-case names to objects. Going from a name to an object is
:func:`lookup`; going back, from an object to its name (to write a model file,
say), is :func:`registered_name`, which recognises an object by what it is,
never by identity: a ``ReLU()`` that went through pickle, ``copy.deepcopy``,
joblib, skops or a joblib worker is a new object, and still the registered
``"relu"``.
"""

__all__ = ["lookup", "registered_name"]


def lookup(registry, name, kind):
    """Return ``registry[name]`` (case-insensitive), or raise ValueError listing the names.

    Examples
    --------
    >>> from sknet._registry import lookup
    >>> lookup({"relu": 1}, "ReLU", "activation")
    1
    >>> lookup({"relu": 1}, "rleu", "activation")
    Traceback (most recent call last):
    ...
    ValueError: Unknown activation 'rleu'; valid names are ['relu'].
    """
    try:
        return registry[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown {kind} {name!r}; valid names are {sorted(registry)}.") from None


def registered_name(registry, value):
    """Return the first name under which ``value`` is registered, or None.

    ``value`` is registered under a name when it is the registered object, or
    an instance of exactly the registered object's class with the same
    configuration (the same attributes, equal values). A copy of a registered
    object is therefore still registered; a subclass, or the same class with
    another setting (``LeakyReLU(slope=0.3)``), is not, since the name alone
    would bring back something else.

    Examples
    --------
    >>> import pickle
    >>> from sknet._registry import registered_name
    >>> from sknet.activations import ACTIVATIONS, LeakyReLU
    >>> registered_name(ACTIVATIONS, pickle.loads(pickle.dumps(ACTIVATIONS["relu"])))
    'relu'
    >>> registered_name(ACTIVATIONS, LeakyReLU(slope=0.01)), registered_name(
    ...     ACTIVATIONS, LeakyReLU(slope=0.3)
    ... )
    ('leaky_relu', None)
    """
    return next((name for name, item in registry.items() if _is_same(item, value)), None)


def _is_same(registered, value):
    """Whether ``value`` is ``registered`` or an equally configured instance of its class."""
    if registered is value:
        return True
    # Classes (the optimizers' registry holds classes) are themselves: only identity.
    if isinstance(value, type) or type(registered) is not type(value):
        return False
    state, other = getattr(registered, "__dict__", None), getattr(value, "__dict__", None)
    if state is None or other is None or state.keys() != other.keys():
        return False
    return all(_equal(state[key], other[key]) for key in state)


def _equal(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays and other objects without one truth value
        return False
