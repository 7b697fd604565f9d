"""sknet: neural networks from scratch on numpy, with scikit-learn estimators.

The engine (:class:`Network`, :class:`Dense`, the activations, losses and
optimizers) knows nothing of scikit-learn; :class:`LayeredClassifier` and
:class:`LayeredRegressor` wrap it as scikit-learn estimators.
"""

from .embeddings import FeatureLinear, PeriodicEmbedding
from .ensemble import SeedEnsembleClassifier, SeedEnsembleRegressor
from .estimators import LayeredClassifier, LayeredRegressor
from .layers import Dense, Layer
from .network import Network
from .normalization import BatchNorm, Residual
from .optimizers import LBFGS, SGD, Adam, AdamW
from .preprocessing import PiecewiseLinearEncoder
from .tabular import make_tabular_classifier, make_tabular_regressor

__version__ = "0.1.0"

__all__ = [
    "LBFGS",
    "SGD",
    "Adam",
    "AdamW",
    "BatchNorm",
    "Dense",
    "FeatureLinear",
    "Layer",
    "LayeredClassifier",
    "LayeredRegressor",
    "Network",
    "PeriodicEmbedding",
    "PiecewiseLinearEncoder",
    "Residual",
    "SeedEnsembleClassifier",
    "SeedEnsembleRegressor",
    "make_tabular_classifier",
    "make_tabular_regressor",
    "__version__",
]
