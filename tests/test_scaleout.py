"""Scaling out: grid searches on a dask cluster, out-of-core training from a memmap."""

import contextlib
import multiprocessing

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import scale

from sknet import LayeredClassifier, LayeredRegressor

# distributed is imported by the cluster's fixture (without it, the test on the
# cluster skips), in the worker that runs these tests, not at collection, which
# every worker runs; one group, so that one worker starts the cluster, once.
pytestmark = pytest.mark.xdist_group("dask_cluster")


@contextlib.contextmanager
def _forkserver(preload, environ):
    """multiprocessing's fork server, started with ``preload`` imported and ``environ`` set.

    Stopped and waited for on exit (with the method multiprocessing keeps for
    its own tests): no process outlives the block, and the server's CPU time
    counts with this process's children, as a spawned process's does.
    """
    import multiprocessing.forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, str(value))
        multiprocessing.forkserver.ensure_running()
    try:
        yield
    finally:
        multiprocessing.forkserver._forkserver._stop()


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    import dask  # installed with distributed

    # Worker processes, one thread each: what the "Scaling out" guide
    # recommends. Starting them costs seconds, so the module shares them, and
    # they are forked from one server process that has imported sknet and
    # scikit-learn once (multiprocessing's "forkserver"), instead of being two
    # fresh interpreters that import them each (dask's default, "spawn"):
    # about 4 s of CPU less. The server starts with the variables dask sets
    # for the processes it spawns (one BLAS thread...), which must be there
    # before numpy is imported. Where there is no fork server (Windows), the
    # workers are spawned.
    if "forkserver" in multiprocessing.get_all_start_methods():
        method = "forkserver"
        server = _forkserver(
            ["distributed", "sknet", "sklearn.model_selection"],
            dask.config.get("distributed.nanny.pre-spawn-environ"),
        )
    else:
        method, server = "spawn", contextlib.nullcontext()
    with (
        server,
        dask.config.set({"distributed.worker.multiprocessing-method": method}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_grid_search_on_a_dask_cluster_matches_the_local_run(client, bundled):
    distributed = pytest.importorskip("distributed")
    X, y = bundled("breast_cancer")
    X = scale(X)
    grid = {"hidden_layer_sizes": [(8,), (16, 8)], "activation": ["relu", "gelu"]}
    estimator = LayeredClassifier(solver="lbfgs", max_iter=30, random_state=0)
    local = GridSearchCV(estimator, grid, cv=3, scoring="neg_log_loss").fit(X, y)
    remote = GridSearchCV(estimator, grid, cv=3, scoring="neg_log_loss", n_jobs=-1)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        remote.fit(X, y)

    # The fits ran on both workers, not in this process.
    assert len({task["worker"] for task in tasks.data}) == 2
    for key in ["mean_test_score", *(f"split{i}_test_score" for i in range(3))]:
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.best_estimator_.coefs_[0], local.best_estimator_.coefs_[0])


@pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
def test_partial_fit_over_memmap_chunks_equals_the_same_passes_in_memory(
    Estimator, tmp_path, bundled
):
    X, digit = bundled("digits")
    X = (X / 16).astype(np.float32)
    y = digit if Estimator is LayeredClassifier else digit.astype(np.float64)
    on_disk = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    on_disk[:] = X
    on_disk.flush()
    del on_disk
    chunks = [slice(start, start + 400) for start in range(0, len(X), 400)]
    extra = {"classes": np.arange(10)} if Estimator is LayeredClassifier else {}

    def train(data):
        model = Estimator(
            hidden_layer_sizes=(32,), learning_rate_init=0.01, batch_size=50, random_state=0
        )
        for _ in range(3):  # passes over the data
            for chunk in chunks:
                model.partial_fit(data[chunk], y[chunk], **extra)
        return model

    in_memory = train(X)
    streamed = train(np.load(tmp_path / "X.npy", mmap_mode="r"))
    for name in ("coefs_", "intercepts_"):
        for a, b in zip(getattr(streamed, name), getattr(in_memory, name), strict=True):
            np.testing.assert_array_equal(a, b)
    assert streamed.t_ == in_memory.t_ == 3 * len(X)
    # The streamed model learnt: accuracy well above 0.1, R2 well above 0.
    assert streamed.score(X, y) > 0.7
