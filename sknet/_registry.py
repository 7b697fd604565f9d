"""Name look-ups shared by the registries of activations, losses and optimizers."""

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
    """Return the name under which ``value`` itself is registered, or None.

    Examples
    --------
    >>> from sknet._registry import registered_name
    >>> marker = object()
    >>> registered_name({"a": marker}, marker), registered_name({"a": marker}, object())
    ('a', None)
    """
    return next((name for name, registered in registry.items() if registered is value), None)
