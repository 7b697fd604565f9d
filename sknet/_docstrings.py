"""Parameter and attribute documentation shared by the two estimators."""

PARAMETERS = """hidden_layer_sizes : array-like of int, default=(100,)
    The number of neurons of each hidden layer. ``()`` gives a model
    without hidden layer ({no_hidden}).
activation : str or sequence of str, default="relu"
    The hidden layers' activation: one name for all of them, or one per
    hidden layer. Names: {activations}. ``"logistic"`` is the sigmoid.
solver : {{"lbfgs", "sgd", "adam"}}, default="adam"
    The optimizer: L-BFGS on the full data, SGD with momentum, or Adam.
alpha : float, default=0.0001
    L2 penalty on the weights, scaled as in scikit-learn's MLP:
    ``alpha / (2 * sum of sample weights) * sum(||W||^2)`` is added to the
    weighted mean loss.
batch_size : int or "auto", default="auto"
    Rows per mini-batch (stochastic solvers); "auto" is ``min(200, n)``.
learning_rate : {{"constant", "invscaling", "adaptive"}}, default="constant"
    The step schedule of solver="sgd".
learning_rate_init : float, default=0.001
    The initial step size of "sgd" and "adam".
power_t : float, default=0.5
    The exponent of the "invscaling" schedule.
max_iter : int, default=200
    The maximum number of epochs (iterations for "lbfgs").
shuffle : bool, default=True
    Reshuffle the rows before each epoch (stochastic solvers).
random_state : int, RandomState instance or None, default=None
    Seeds everything random: initial weights, shuffling, dropout and the
    early-stopping split.
tol : float, default=1e-4
    The improvement below which an epoch counts as no progress.
verbose : bool, default=False
    Print one line per epoch (per iteration for lbfgs): losses, validation
    score, rows per second and time left; see :ref:`progress_and_callbacks`.
warm_start : bool, default=False
    Continue from the previous fit's weights and optimizer state.
momentum : float, default=0.9
    Momentum of "sgd".
nesterovs_momentum : bool, default=True
    Use Nesterov's momentum with "sgd".
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the rows (at least two){stratified},
    stop once the validation score has not improved by ``tol`` for
    ``n_iter_no_change`` epochs, and keep the best weights. Equal scores are
    told apart by the validation loss, so a score that saturates (accuracy
    1.0 on a small hold-out) does not stop a model that still improves.
    Rows of zero weight are left out of both parts.
validation_fraction : float, default=0.1
    The share held out for early stopping.
beta_1, beta_2 : float, default=0.9, 0.999
    Adam's moment decay rates.
epsilon : float, default=1e-8
    Adam's numerical stability constant.
n_iter_no_change : int, default=10
    Epochs without improvement before stopping (or, with "adaptive",
    dividing the learning rate by 5).
max_fun : int, default=15000
    The maximum number of loss evaluations of "lbfgs".
weight_decay : float, default=0.0
    Decoupled weight decay of the stochastic solvers (AdamW with "adam"):
    each step multiplies the weights (not the biases) by
    ``1 - learning rate * weight_decay``, beside ``alpha``'s L2 penalty.
    (sknet only.)
lr_schedule : {{"cosine", "warmup_cosine", "step", "plateau"}}, schedule \
object or None, default=None
    A learning-rate schedule for "sgd" and "adam", applied per epoch from
    ``learning_rate_init``: "cosine" anneals to 0 over ``max_iter`` epochs,
    "warmup_cosine" first ramps up linearly over 5 epochs, "step" divides
    the rate by 10 every ``max_iter // 3`` epochs, and "plateau" divides it
    by 5 after ``n_iter_no_change`` epochs without improvement (and stops
    once it is below 1e-6), as "adaptive" does for "sgd". None: MLP's
    behaviour (``learning_rate`` then sets "sgd"'s schedule, which must be
    "constant" when ``lr_schedule`` is given). Objects from
    :mod:`sknet.schedules` are used as they are. (sknet only.)
clip_grad_norm : float or None, default=None
    Scale each mini-batch gradient down to this global L2 norm when it is
    longer (stochastic solvers). (sknet only.)
averaging : {{"ema"}} or None, default=None
    "ema" keeps an exponential moving average of the weights during
    training (stochastic solvers) and ends the fit with it: a cheap
    ensemble of the last epochs. With ``early_stopping`` the average is
    what each epoch's validation score measures, and the best epoch's
    average is kept; a warm start or ``partial_fit`` continues from the
    averaged weights. (sknet only.)
ema_decay : float, default=0.999
    The average's decay per step, in [0, 1); step ``t`` uses
    ``min(ema_decay, (1 + t) / (10 + t))``. (sknet only.)
dropout : float or sequence of float, default=0.0
    The share of each hidden layer's outputs dropped at random during
    training: one rate for all hidden layers, or one per layer.
    Predictions never drop anything.
categorical_features : array-like of {{bool, int, str}} or "from_dtype" \
or None, default=None
    The categorical columns of ``X``, spelt as in scikit-learn's
    ``HistGradientBoosting`` estimators; they are one-hot encoded inside
    the estimator and the network sees the numeric columns, then the
    one-hot columns. (sknet only; MLP has no such parameter.)

    - None: no column is categorical (MLP's behaviour).
    - "from_dtype": the pandas (or polars) ``category``/``Enum`` columns of
      a DataFrame, and nothing else: object and string columns are not
      categorical. An array has no such column, so it takes MLP's path.
    - a boolean mask of shape (n_features,), column indices, or column
      names (for a DataFrame).

    A category unseen in training is ignored at predict time (an all-zero
    one-hot block, as ``OneHotEncoder(handle_unknown="ignore")``). A missing
    value (NaN, None) in a categorical column is a category of its own, as
    in ``HistGradientBoosting`` (met only at predict time, it is an unknown
    category, so ignored); missing values in numeric columns are
    refused, as MLP refuses them. A warm start or ``partial_fit`` keeps the
    categories of the first fit. Dense input only; ``n_features_in_`` and
    ``feature_names_in_`` describe the columns of ``X`` as given.
numeric_embedding : {{"piecewise_linear", "periodic"}} or None, default=None
    How the numeric inputs reach the first hidden layer (Gorishniy et al.,
    "On Embeddings for Numerical Features in Tabular Deep Learning", 2022).
    (sknet only; MLP has no such parameter.)

    - None: as they are (MLP's behaviour).
    - "piecewise_linear": each numeric column is replaced by its
      piecewise-linear encoding (:class:`~sknet.preprocessing.PiecewiseLinearEncoder`,
      8 to 16 quantile bins depending on the number of rows), learnt from the
      training rows of the first fit inside the estimator; one-hot columns of
      ``categorical_features`` pass on as they are. The bins count every row
      once, whatever its sample weight. ONNX export refuses this option: put
      the encoder in a Pipeline in front of the estimator instead.
    - "periodic": a trained :class:`~sknet.PeriodicEmbedding` (PLR: 16
      frequencies and 16 outputs per input column, ``sigma=1.0``) is the
      network's first layer. It embeds every input column of the network,
      the one-hot columns of ``categorical_features`` included (the layer
      takes all of its input). Best on standardised inputs.

    ``coefs_`` and ``intercepts_`` still list the fully connected layers
    only: with an embedding, ``coefs_[0]`` maps the encoded or embedded
    columns (not the raw features) to the first hidden layer. The
    embedding's own parameters are in ``network_.layers[0]``.
batch_norm : bool, default=False
    Put a :class:`~sknet.BatchNorm` layer after each hidden layer's
    activation (and dropout), so that the next layer receives standardised
    values: in training, those of the mini-batch; in prediction, running
    statistics kept during training. (sknet only; MLP has no such
    parameter.) Each row's training output then depends on the other rows
    of its batch; the batch statistics are weighted by the sample weights,
    so within a batch a weight of k counts as k copies of the row.
    ``coefs_`` and ``intercepts_`` leave the batch-norm layers out.
"""

ATTRIBUTES = """loss_ : float
    The last epoch's training objective (loss plus penalty).
loss_curve_ : list of float
    The training objective after each epoch (iteration for "lbfgs").
best_loss_ : float or None
    The lowest training objective reached (None with early stopping).
validation_scores_ : list of float or None
    The validation score after each epoch, with early stopping.
validation_loss_curve_ : list of float or None
    The loss on the held-out data after each epoch, with early stopping.
best_validation_score_ : float or None
    The best validation score, with early stopping.
n_iter_ : int
    The number of epochs run by the last call.
t_ : int
    The number of training samples seen by the stochastic solver.
coefs_ : list of ndarray
    Weight matrices, one per fully connected layer (embedding and
    batch-norm layers are left out; see ``numeric_embedding``).
intercepts_ : list of ndarray
    Bias vectors, one per fully connected layer.
n_layers_ : int
    The number of layers, input and output included.
n_outputs_ : int
    The number of output units.
out_activation_ : str
    The output layer's activation.
n_features_in_ : int
    The number of features seen during fit.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    The feature names, when X has string column names.
is_categorical_ : ndarray of shape (`n_features_in_`,), dtype=bool, or None
    Which columns of ``X`` were one-hot encoded (see
    ``categorical_features``); None when none was.
network_ : Network
    The fitted engine.
"""


_CLASSIFIER_SUMMARY = """A neural-network classifier: per-layer sizes, activations and dropout.

A drop-in superset of scikit-learn's ``MLPClassifier``: every parameter of it
has the same name, default and meaning. Binary targets get one sigmoid output,
multiclass targets a softmax, multilabel indicator matrices independent
sigmoids; all are trained on the log loss.

Parameters
----------
"""

_CLASSIFIER_EXTRAS = """\
class_weight : dict, "balanced" or None, default=None
    Weights of the classes, multiplied into the sample weights. "balanced"
    gives every class the same total weight, counting sample weights (for
    multilabel targets, each label is balanced and the factors multiplied).

Attributes
----------
classes_ : ndarray of shape (n_classes,)
    The class labels.
"""

_CLASSIFIER_EXAMPLES = """
Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sknet import LayeredClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = LayeredClassifier((16, 8), activation=["tanh", "relu"],
...                         solver="lbfgs", max_iter=500,
...                         random_state=0).fit(X, y)
>>> clf.predict_proba(X[:1]).shape
(1, 3)
>>> bool(clf.score(X, y) > 0.95)
True

scikit-learn's callbacks see every epoch (here, the accuracy after each):

>>> from sklearn.callback import ScoringMonitor
>>> monitor = ScoringMonitor(scoring="accuracy")
>>> clf = LayeredClassifier((8,), max_iter=20, random_state=0)
>>> clf = clf.set_callbacks(monitor).fit(X, y)
>>> rows = monitor.get_logs().data
>>> len([row for row in rows if row["task_name"] == "epoch"])
20
"""

_REGRESSOR_SUMMARY = """A neural-network regressor: per-layer sizes, activations and dropout.

A drop-in superset of scikit-learn's ``MLPRegressor``: every parameter of it
has the same name, default and meaning. The output layer is linear (the
exponential for the Poisson loss); 2-D ``y`` gives multi-output regression.

Parameters
----------
loss : {"squared_error", "absolute_error", "huber", "poisson"} or Loss, \
default="squared_error"
    The training loss: half squared error, absolute error (robust, fits the
    median), Huber (squared near zero, absolute beyond 1), or half Poisson
    deviance with an exponential output (``y`` must be non-negative).
"""

_REGRESSOR_EXTRAS = """\
target_scaling : {"standard"} or None, default=None
    ``"standard"``: the network learns the standardised target
    ``(y - mean) / std`` (sample-weighted mean and population standard
    deviation of each output, computed by the first fit; a constant
    output keeps a scale of 1), and predictions are mapped back. This is
    ``TransformedTargetRegressor(regressor, transformer=StandardScaler())``
    in one parameter, and matters for targets far from unit scale (prices,
    counts in the thousands), which the output layer would otherwise spend
    its training reaching. ``loss_curve_``, ``loss_``, ``best_loss_`` and
    ``validation_loss_curve_`` are in the standardised units;
    ``validation_scores_`` (R²) and ``predict`` are in the units of ``y``.
    Refused with ``loss="poisson"``, whose targets must stay non-negative.
    None: MLP's behaviour. (sknet only.)

Attributes
----------
"""

_REGRESSOR_EXAMPLES = """
Examples
--------
>>> from sklearn.datasets import make_regression
>>> from sknet import LayeredRegressor
>>> X, y = make_regression(n_samples=200, n_features=4, noise=0.1,
...                        random_state=0)
>>> reg = LayeredRegressor(hidden_layer_sizes=(), solver="lbfgs").fit(X, y)
>>> bool(reg.score(X, y) > 0.99)
True

A target in the tens of thousands, learnt on its standardised scale:

>>> reg = LayeredRegressor(hidden_layer_sizes=(16,), max_iter=300,
...                        target_scaling="standard", random_state=0)
>>> bool(reg.fit(X, 30_000 + 100 * y).score(X, 30_000 + 100 * y) > 0.95)
True

A pandas ``category`` column, one-hot encoded inside:

>>> import pandas as pd
>>> frame = pd.DataFrame({"size": X[:, 0],
...                       "city": pd.Categorical(["A", "B"] * 100)})
>>> reg = LayeredRegressor(categorical_features="from_dtype",
...                        hidden_layer_sizes=(), solver="lbfgs")
>>> reg.fit(frame, y).is_categorical_
array([False,  True])
"""


def estimator_docstrings(hidden_activations):
    """The docstrings of LayeredClassifier and LayeredRegressor, in that order."""
    names = ", ".join(hidden_activations)
    classifier = (
        _CLASSIFIER_SUMMARY
        + PARAMETERS.format(
            no_hidden="logistic regression",
            activations=names,
            stratified=" (stratified by class when every class has two samples)",
        )
        + _CLASSIFIER_EXTRAS
        + ATTRIBUTES
        + _CLASSIFIER_EXAMPLES
    )
    regressor = (
        _REGRESSOR_SUMMARY
        + PARAMETERS.format(
            no_hidden="linear regression; Ridge for the squared error with lbfgs",
            activations=names,
            stratified="",
        )
        + _REGRESSOR_EXTRAS
        + ATTRIBUTES
        + _REGRESSOR_EXAMPLES
    )
    return classifier, regressor
