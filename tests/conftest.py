"""Data and helpers shared by the test files.

Every data set is made once per session and handed out as a fresh copy, so a
test that writes into its arrays cannot change what another test sees. Fixtures
that take arguments are factories: the test calls them, for example
``X, y = regression(n_samples=120, n_features=4)``.
"""

import functools
import gc
import importlib.metadata
import importlib.util
import sys
import warnings

import pytest
import threadpoolctl
from packaging.version import Version

# pytest-xdist's controller process loads this file too, only to run its hooks:
# scikit-learn and sknet (2 s of CPU to import, taken from the workers on a
# 2-core machine) are imported by the fixtures that use them, in the workers.

#: The BLAS thread limits of the session (see ``pytest_collection_finish``).
_ONE_BLAS_THREAD = None


def _is_xdist_controller(config):
    # pytest-xdist's own test (xdist.plugin.pytest_configure) for a process
    # that hands the tests to workers and runs none.
    return (
        getattr(config.option, "dist", "no") != "no"
        and not config.option.collectonly
        and not hasattr(config, "workerinput")
    )


def pytest_configure(config):
    # The tests stop many fits early on purpose. In pyproject.toml, this filter
    # would make pytest import scikit-learn to resolve the category as it
    # starts, in pytest-xdist's controller too, which runs no test.
    if not _is_xdist_controller(config):
        config.addinivalue_line("filterwarnings", "ignore::sklearn.exceptions.ConvergenceWarning")
    config.addinivalue_line(
        "markers", "blas_threads: run with the BLAS thread limits the process started with"
    )
    # pytest-xdist's mark, known here too for a run without pytest-xdist.
    config.addinivalue_line(
        "markers", "xdist_group(name): run in one worker under --dist loadgroup"
    )
    # With every test in a group (see pytest_collection_modifyitems), xdist
    # would send the groups of most tests first and leave the long groups of
    # few tests (the demo's rows, the benchmark script) to the end, where one
    # worker runs them while the other waits: keep the collection's order.
    if getattr(config.option, "dist", "no") == "loadgroup":
        config.option.loadscopereorder = False


#: Under ``--dist loadgroup``, the tests that name no ``xdist_group`` go to the
#: workers in runs of this many consecutive tests.
XDIST_RUN = 40

#: Optional extras that cost a process seconds the first time it uses them:
#: importing torch (about 2 s), then torch._dynamo, which its first
#: ``TorchDispatchMode`` or ``torch.optim`` step imports (1 to 1.5 s more);
#: skops, whose ``skops.io`` imports torch too (through scikit-learn's
#: ``array_api_compat.torch``); matplotlib (0.4 s). Under ``--dist loadgroup``
#: the tests that use one run in one group, so that one worker pays for it
#: instead of each; the test modules import these extras in their tests or
#: fixtures, not at collection, which every worker runs. A test is in the
#: group when its id names the extra (parameters such as ``torch-cpu``
#: included) or when it says so with ``pytest.mark.xdist_group(<group>)``.
#: numba's kernels are compiled on their first call in a process, unless
#: numba's on-disk cache has them (not in a fresh checkout): the tests that
#: call them (tests/test_numba_*.py, tests/test_dropout_kernels.py, the numba
#: modules' examples, the tests with a ``numba`` parameter) run in one group,
#: so that one worker compiles each kernel.
EXTRA_GROUPS = {
    "torch": ("torch", "skops"),
    "matplotlib": ("sknet/plotting.py::", "tests/test_plotting.py::"),
    "numba": ("numba", "tests/test_dropout_kernels.py::"),
}


def _extra_group(nodeid):
    nodeid = nodeid.lower()
    for group, words in EXTRA_GROUPS.items():
        if any(word in nodeid for word in words):
            return group
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks
def pytest_collection_modifyitems(config, items):
    # pytest-xdist's loadgroup scheduler makes every test without a group a
    # work unit of its own, and its bookkeeping grows with the square of the
    # units: with some 5000 of them, the controller process spent 10 to 25 s
    # of CPU (on 2 cores, time taken from the workers) and the workers waited
    # for their next test. Runs of consecutive tests are units of some 40
    # tests, a second or two each, which still balance over two workers; the
    # groups the tests name themselves stay as they are.
    if not getattr(config.option, "loadgroup", False):
        return
    ungrouped = []
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        extra = _extra_group(item.nodeid)
        if extra is None:
            ungrouped.append(item)
        else:
            item.add_marker(pytest.mark.xdist_group(extra))
    for i, item in enumerate(ungrouped):
        item.add_marker(pytest.mark.xdist_group(f"run{i // XDIST_RUN}"))


def pytest_collection_finish(session):
    global _ONE_BLAS_THREAD
    # The tests multiply small matrices, for which BLAS threads cost more than
    # they give: a 2-thread OpenBLAS made the default classifier's fit on breast
    # cancer take 20 times the CPU time of one thread on a busy 2-core machine
    # (its idle threads spin). One BLAS thread for the session, set once
    # numpy's and scipy's BLAS are loaded (scikit-learn loads both; the test
    # modules have imported it already); a test marked ``blas_threads`` runs
    # with the limits the process started with.
    import sklearn  # noqa: F401

    _ONE_BLAS_THREAD = threadpoolctl.threadpool_limits(1, user_api="blas")
    # Everything made so far (the modules of numpy, scipy, scikit-learn,
    # torch..., and the collected tests with their parameters) lives for the
    # whole session; frozen, the garbage collector's full passes, and pytest's
    # five at the session's end, stop walking it again and again (about half
    # the time the collector took in a worker).
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _blas_threads(request):
    if request.node.get_closest_marker("blas_threads") is None:
        yield
        return
    _ONE_BLAS_THREAD.restore_original_limits()
    try:
        yield
    finally:
        threadpoolctl.threadpool_limits(1, user_api="blas")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # The same holds for torch's intra-op threads on the tests' tiny arrays: two
    # of them made scikit-learn's array-API checks on torch take 5 to 10 times
    # the CPU time of one on a busy 2-core machine. Many tests set one thread
    # themselves; this makes it hold for every test that runs after torch is
    # imported (scikit-learn's checks import it themselves), in any order and
    # in any worker process.
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    yield


# sknet supports every scikit-learn from the floor pyproject.toml declares
# (sknet._base.compat.SKLEARN_MIN_VERSION); a test that needs a newer one (its
# callbacks, or a reference estimator's newer option) skips on older ones, and
# says which version it needs.
SKLEARN_VERSION = Version(importlib.metadata.version("scikit-learn"))


def _needs(version, what):
    return f"{what} needs scikit-learn >= {version}; this is scikit-learn {SKLEARN_VERSION}"


def requires_sklearn(version, what):
    """A mark that skips a test on scikit-learn older than ``version``.

    ``what`` names what the test needs from that version, for the skip's reason.
    """
    return pytest.mark.skipif(SKLEARN_VERSION < Version(version), reason=_needs(version, what))


# Bundled scikit-learn data sets by the name their loader carries.
BUNDLED = ("breast_cancer", "diabetes", "digits", "iris", "linnerud", "wine")


def _copies(arrays):
    return tuple(array.copy() for array in arrays)


@functools.cache
def _bundled(name):
    from sklearn import datasets  # imported here: see the imports at the top

    return getattr(datasets, f"load_{name}")(return_X_y=True)


@functools.cache
def _standardised_regression(n_samples, n_features, n_targets, noise, seed):
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    X, y = datasets.make_regression(
        n_samples=n_samples,
        n_features=n_features,
        n_targets=n_targets,
        noise=noise,
        random_state=seed,
    )
    X = StandardScaler().fit_transform(X)
    return X, (y - y.mean(axis=0)) / y.std(axis=0)


@pytest.fixture
def bundled():
    """``bundled(name)``: ``(X, y)`` of a scikit-learn data set, as ``load_<name>`` gives it.

    ``name`` is one of :data:`BUNDLED`; the files are read once per session.
    """

    def make(name):
        if name not in BUNDLED:
            raise ValueError(f"unknown data set {name!r}; known: {BUNDLED}")
        return _copies(_bundled(name))

    return make


@pytest.fixture
def iris():
    """Iris, standardised: ``(X, y)`` with 150 rows, 4 features and 3 classes."""
    from sklearn.preprocessing import StandardScaler

    X, y = _bundled("iris")
    return StandardScaler().fit_transform(X), y.copy()


@pytest.fixture
def regression():
    """``regression(n_samples=150, n_features=5, n_targets=1, noise=5.0, seed=0)``.

    ``make_regression`` data with standardised features and standardised
    targets (each target column to mean 0, standard deviation 1).
    """

    def make(n_samples=150, n_features=5, n_targets=1, noise=5.0, seed=0):
        return _copies(_standardised_regression(n_samples, n_features, n_targets, noise, seed))

    return make


@pytest.fixture
def estimator_data(iris, regression):
    """``estimator_data(Estimator, **regression_options)``: data an estimator can fit.

    Standardised iris for :class:`~sknet.LayeredClassifier`; the
    :func:`regression` fixture's data, with ``regression_options``, for
    :class:`~sknet.LayeredRegressor`.
    """
    from sknet import LayeredClassifier  # imported here: see the imports at the top

    def make(Estimator, **regression_options):
        if Estimator is LayeredClassifier:
            X, y = iris
            return X.copy(), y.copy()
        return regression(**regression_options)

    return make


@pytest.fixture
def outputs():
    """``outputs(estimator, X)``: ``predict_proba`` of a classifier, ``predict`` of a regressor."""
    from sknet import LayeredClassifier

    def predict(estimator, X):
        if isinstance(estimator, LayeredClassifier):
            return estimator.predict_proba(X)
        return estimator.predict(X)

    return predict


@pytest.fixture(scope="session")
def demo_rows():
    """The rows of ``python -m sknet``'s table, computed once per session.

    A list of ``(data set, model name, metric, held-out score, fit seconds)``
    in the table's order. The demo
    fits both models with ``random_state=0`` on the split that
    ``tests/test_parity.py`` uses for seed 0, so the parity test reads those
    scores here instead of fitting the same models again. The tests that use
    it carry ``xdist_group("demo_rows")``, so that under ``-n auto --dist
    loadgroup`` one worker computes it, once.
    """
    from sklearn.exceptions import ConvergenceWarning

    from sknet.__main__ import _rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return list(_rows())


# -- fresh interpreters shared by tests that check a whole process's state --------


@pytest.fixture(scope="session")
def fresh_sknet_import():
    """What one fresh interpreter has loaded after ``import sknet`` and small fits.

    A dict of the lines the interpreter prints, by their first word:
    ``"import"`` (numba? llvmlite? after ``import sknet`` and
    ``sknet.plotting``), ``"matplotlib"`` (its modules loaded after building a
    ``LossCurveDisplay``), ``"small"`` (numba? after small fits),
    ``"large"`` (the backend and numba? for a step large enough for numba's
    kernels). Where numba is installed, the kernels then run, and
    ``"engine"`` and ``"dropout"`` say whether numba's thread pool was
    started (see ``numba_pool_after_kernels``). The tests that read it
    (tests/test_plotting.py, tests/test_numba_backend.py,
    tests/test_numba_kernels.py, tests/test_dropout_kernels.py) carry
    ``xdist_group("fresh_sknet_import")`` so that one worker starts the
    interpreter, once.
    """
    import _fresh_interpreter as fresh

    code = (
        "import sys, warnings\n"
        "import sknet\n"
        "import sknet.plotting\n"
        "from sknet.plotting import LossCurveDisplay\n"
        "print('file', sknet.__file__)\n"
        # Neither numba nor llvmlite, its compiler, is loaded by importing sknet.
        "print('import', 'numba' in sys.modules, 'llvmlite' in sys.modules)\n"
        "LossCurveDisplay(loss=[1.0])\n"
        "print('matplotlib', *sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
        "from sklearn.datasets import load_iris\n"
        "from sknet import backends\n"
        "X, y = load_iris(return_X_y=True)\n"
        "warnings.simplefilter('ignore')\n"
        "sknet.LayeredClassifier((8,), max_iter=20, random_state=0).fit(X, y)\n"
        "reg = sknet.LayeredRegressor(hidden_layer_sizes=(8,), solver='lbfgs', max_iter=20)\n"
        "reg.fit(X[:, 1:], X[:, 0])\n"
        "net = sknet.Network(4, random_state=0).add_layer(8, 'relu').add_layer(1, 'identity')\n"
        "net.fit(X, X[:, :1], epochs=2)\n"
        "print('small', 'numba' in sys.modules)\n"
        # A step large enough for the kernels does load them.
        "backend = backends.get_backend(X, step_work=backends.MIN_STEP_WORK)\n"
        "print('large', backend.name, 'numba' in sys.modules)\n"
    )
    if importlib.util.find_spec("numba") is not None:
        benchmarks = str(fresh.ROOT / "benchmarks")
        # The kernels, each on the calling thread: numba's pool is never started.
        code += (
            "import numpy as np\n"
            "from numba.np.ufunc import parallel\n"
            "from sknet import _numba_kernels as K\n"
            "z = np.ones((3, 2)); p = np.ones(4)\n"
            "K.bias_activation(z, np.ones(2), z, 'relu')\n"
            "K.activation_backward(z, z, z.copy(), 'relu')\n"
            "K.adam_step(p, p, p.copy(), p.copy(), p.copy(), 0.1, 0.9, 0.999, 1e-8)\n"
            "K.gather_rows(z, np.array([0, 2]), z[:2].copy())\n"
            f"sys.path.insert(0, {benchmarks!r})\n"
            "import numba_extra_kernels as BK\n"
            "BK.softmax_log_loss_codes(z, np.zeros(3, np.intp), z, z.copy(), np.ones(3))\n"
            "print('engine', parallel._is_initialized)\n"
            "m = np.empty((3, 5)); a = np.ones((3, 5)); o = np.empty((3, 5))\n"
            "K.dropout(m, 0.5, (1, 2), 0, 0, 0, a, o)\n"
            "K.dropout(m.astype(np.float32), 0.5, (1, 2), 0, 0, 0)\n"
            "print('dropout', parallel._is_initialized)\n"
        )
    out = fresh.run(code)
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()}


@pytest.fixture(scope="session")
def numba_pool_after_kernels(fresh_sknet_import):
    """Whether numba's thread pool was started, in one fresh interpreter, after the kernels ran.

    A dict: ``"engine"`` after the engine's kernels and the benchmarks'
    fused loss kernel ran, then ``"dropout"`` after the dropout kernel ran
    too (a started pool stays started, so each answer covers the kernels
    before it, and the imports and fits of ``fresh_sknet_import``, whose
    interpreter runs them). The tests that read it
    (tests/test_numba_kernels.py, tests/test_dropout_kernels.py) carry
    ``xdist_group("fresh_sknet_import")``.
    """
    return {name: fresh_sknet_import[name][0] for name in ("engine", "dropout")}


#: In the interpreter of ``without_numba``: scikit-learn's names that are newer
#: than the floor sknet declares are deleted before sknet is imported afresh.
_HIDE_THE_NEWER_NAMES = """
import sklearn.callback
import sklearn.compose, sklearn.datasets, sklearn.impute, sklearn.metrics  # noqa: E401
import sklearn.model_selection, sklearn.pipeline, sklearn.preprocessing, sklearn.tree  # noqa: E401
import sklearn.utils._array_api as array_api
import sklearn.utils.validation as validation

# scikit-learn's own modules keep what they imported; sknet finds none of these.
for module, name in [
    (sklearn.callback, "CallbackSupportMixin"),  # scikit-learn < 1.9
    (array_api, "move_to"),  # scikit-learn < 1.8
    (array_api, "check_same_namespace"),  # scikit-learn < 1.9
    (validation, "_check_categorical_features"),  # scikit-learn < 1.9
]:
    if hasattr(module, name):
        delattr(module, name)
"""

#: Then sknet must import, fit, predict and refuse callbacks clearly.
_SKNET_WITHOUT_THE_NEWER_NAMES = """
import warnings

import numpy as np
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sknet import LayeredClassifier
from sknet._base import compat as _compat

assert not _compat.HAS_CALLBACKS
assert _compat.move_to is _compat._move_to
assert _compat.check_same_namespace is _compat._check_same_namespace
X, y = load_iris(return_X_y=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf = LayeredClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    search = GridSearchCV(clf, {"alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    print("@compat_accuracy", round(search.score(X, y), 3))
    clf.partial_fit(X, y, classes=np.unique(y))
try:
    clf.set_callbacks(object())
except RuntimeError as error:
    print("@compat_refusal", error)
"""


@pytest.fixture(scope="session")
def without_numba():
    """One fresh interpreter where ``import numba`` fails, as without numba installed.

    Three checks share it, each on a clean sknet (the modules of the one
    before are dropped from ``sys.modules``); a dict of the lines it prints
    that start with ``@``, by their first word, and ``"out"``, all it printed:

    1. The engine's modules that need no numba, imported without
       sknet/__init__.py: ``"@engine_sklearn"`` lists the scikit-learn modules
       then loaded, ``"@engine_estimators"`` says whether sknet.estimators is.
    2. Where numba is installed (tests/test_numba_backend.py),
       ``import sknet`` chooses no numba backend (``"@backend"``, the name
       chosen for a huge step) and tests/test_engine_rules.py passes
       (``"@rules_exit"``, pytest's exit code; its summary is in ``"out"``).
       The rule tested in 1 is deselected there: its own interpreter would
       have numba.
    3. sknet, imported after scikit-learn's names newer than the floor are
       hidden, fits, predicts and refuses callbacks (tests/test_compat.py):
       ``"@compat_accuracy"`` and ``"@compat_refusal"``.

    The tests that read it carry ``xdist_group("without_numba")``.
    """
    import _fresh_interpreter as fresh
    from test_engine_rules import ENGINE

    drop_sknet = (
        "for _name in [m for m in sys.modules if m.split('.')[0] == 'sknet']:\n"
        "    del sys.modules[_name]\n"
    )
    rule = "tests/test_engine_rules.py::test_importing_the_engine_does_not_import_sklearn"
    code = (
        "import sys\n"
        "sys.modules['numba'] = None  # as if numba were not installed\n"
        + fresh.ENGINE_ONLY
        + "".join(f"import sknet.{name}\n" for name in ENGINE if "numba" not in name)
        + "_loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn')\n"
        "print('@engine_sklearn', *_loaded)\n"
        "print('@engine_estimators', 'sknet.estimators' in sys.modules)\n" + drop_sknet
    )
    if importlib.util.find_spec("numba") is not None:
        code += (
            "import numpy, pytest, sknet\n"
            "print('@backend', sknet.backends.get_backend(numpy.zeros(1), step_work=2**40).name)\n"
            "_exit = pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_engine_rules.py',\n"
            f"                     '--deselect', {rule!r}])\n"
            "print('@rules_exit', int(_exit))\n" + drop_sknet
        )
    code += _HIDE_THE_NEWER_NAMES + _SKNET_WITHOUT_THE_NEWER_NAMES
    out = fresh.run(code)
    lines = {"out": out}
    for line in out.splitlines():
        if line.startswith("@"):
            word, _, rest = line.partition(" ")
            lines[word] = rest
    return lines
