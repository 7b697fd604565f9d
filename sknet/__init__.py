"""sknet: neural networks from scratch on numpy, with scikit-learn estimators.

The engine (:class:`Network`, :class:`Dense`, the activations, losses and
optimizers) knows nothing of scikit-learn; :class:`LayeredClassifier` and
:class:`LayeredRegressor` wrap it as scikit-learn estimators.
"""

from .estimators import LayeredClassifier, LayeredRegressor
from .layers import Dense, Layer
from .network import Network
from .optimizers import LBFGS, SGD, Adam

__version__ = "0.1.0"

__all__ = [
    "LBFGS",
    "SGD",
    "Adam",
    "Dense",
    "Layer",
    "LayeredClassifier",
    "LayeredRegressor",
    "Network",
    "__version__",
]
