"""summary() on the engine and the estimators, the Network repr, and the
estimators' HTML representation (full per-layer lists, summary, doc link)."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import requires_sklearn
from sknet import LayeredClassifier, LayeredRegressor, Network
from sknet._summary import human_bytes, layer_rows

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _totals(text):
    """The three totals of a summary: {"Total": (count, memory), ...}."""
    found = re.findall(r"^(Total|Trainable|Non-trainable) params: ([\d,]+) \((.+)\)$", text, re.M)
    return {kind: (int(count.replace(",", "")), memory) for kind, count, memory in found}


def _row_counts(text):
    """The "Params" column of every layer row."""
    return [int(c.replace(",", "")) for c in re.findall(r"\(Dense\).*?([\d,]+)$", text, re.M)]


def _fit_quietly(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few epochs: convergence warnings
        return estimator.fit(X, y)


# -- the engine ---------------------------------------------------------------------


def test_network_summary_counts_every_parameter():
    net = Network(n_inputs=64, random_state=0)
    net.add_layer(128, activation="relu").add_layer(64, activation="tanh", dropout=0.1)
    net.add_layer(10, activation="softmax")
    text = net.summary()
    expected = sum(w.size for w in net.get_weights())
    assert expected == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10 == 17226
    assert _row_counts(text) == [8320, 8256, 650]
    # float64 weights before any fit: 8 bytes each.
    assert _totals(text) == {
        "Total": (17226, human_bytes(17226 * 8)),
        "Trainable": (17226, human_bytes(17226 * 8)),
        "Non-trainable": (0, "0 B"),
    }
    lines = text.splitlines()
    assert lines[0] == "Network: 64 input features"
    rows = [line.split() for line in lines if "(Dense)" in line]
    assert [row[3:6] for row in rows] == [
        ["128)", "relu", "-"],
        ["64)", "tanh", "0.1"],
        ["10)", "softmax", "-"],
    ]
    assert [row[0] for row in rows] == ["dense", "dense_1", "dense_2"]


def test_network_summary_memory_follows_the_fitted_dtype():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    net = Network(3, random_state=0).add_layer(5, "tanh").add_layer(1, "identity")
    net.fit(X, X[:, 0], epochs=1)
    assert net.layers[0].weights.dtype == np.float32
    n = 3 * 5 + 5 + 5 + 1
    assert _totals(net.summary())["Total"] == (n, human_bytes(4 * n))


def test_summary_reads_the_layer_protocol():
    # Non-trainable state (get_state) and frozen layers count as non-trainable;
    # a layer type without units or activation still gets a row.
    class Scale:
        trainable = False

        def __init__(self):
            self.factor = np.ones(4)
            self.running_mean = np.zeros(4)

        def get_parameters(self):
            return [self.factor]

        def get_state(self):
            return {"running_mean": self.running_mean}

    net = Network(3, random_state=0).add_layer(4)
    net.layers.append(Scale())
    rows = layer_rows(net)
    assert [row["layer"] for row in rows] == ["dense (Dense)", "scale (Scale)"]
    assert (rows[1]["trainable"], rows[1]["non_trainable"]) == (0, 8)
    assert rows[1]["output_shape"] == "?" and rows[1]["activation"] == "-"
    totals = _totals(net.summary())
    assert totals["Trainable"] == (16, human_bytes(16 * 8))
    assert totals["Non-trainable"] == (8, human_bytes(8 * 8))
    assert totals["Total"] == (24, human_bytes(24 * 8))


def test_summary_on_torch_counts_device_bytes():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    X = torch.zeros((16, 3), dtype=torch.float32)
    net = Network(3, random_state=0).add_layer(4, "tanh").add_layer(1, "identity")
    net.fit(X, torch.zeros(16, dtype=torch.float32), epochs=1)
    assert isinstance(net.layers[0].weights, torch.Tensor)
    assert _totals(net.summary())["Total"] == (21, human_bytes(21 * 4))


def test_human_bytes_units():
    assert human_bytes(0) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1024) == "1.00 KiB"
    assert human_bytes(5 * 2**30) == "5.00 GiB"
    assert human_bytes(2**50) == f"{2**20:.2f} GiB"


def test_network_repr_shows_dropout():
    net = Network(4, random_state=0).add_layer(8, "relu", dropout=0.25)
    net.add_layer(6, "tanh").add_layer(3, "softmax")
    assert repr(net) == "Network(n_inputs=4, layers=[8 relu dropout=0.25, 6 tanh, 3 softmax])"


# -- the estimators --------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        LayeredClassifier((8, 4), activation=["relu", "tanh"], dropout=[0.1, 0.0], max_iter=3),
        LayeredClassifier((), max_iter=3),
        LayeredClassifier(5, solver="lbfgs", max_iter=3),
        LayeredRegressor(hidden_layer_sizes=(7, 3, 2), activation="tanh", dropout=0.2, max_iter=3),
    ],
    ids=["classifier-per-layer", "classifier-no-hidden", "classifier-lbfgs", "regressor"],
)
def test_estimator_summary_counts_coefs_and_intercepts(estimator):
    X, y = load_iris(return_X_y=True)
    if isinstance(estimator, LayeredRegressor):
        y = np.column_stack([X[:, 0], y])  # two outputs
        X = X[:, 1:]
    estimator = _fit_quietly(estimator.set_params(random_state=0), X, y)
    text = estimator.summary()
    n_params = sum(w.size for w in estimator.coefs_ + estimator.intercepts_)
    assert _totals(text)["Total"][0] == n_params
    assert _totals(text)["Trainable"][0] == n_params
    assert _row_counts(text) == [
        w.size + b.size for w, b in zip(estimator.coefs_, estimator.intercepts_, strict=True)
    ]
    assert len(_row_counts(text)) == estimator.n_layers_ - 1
    first = text.splitlines()[0]
    assert first.startswith(f"{type(estimator).__name__}: {X.shape[1]} input features")
    assert f"({estimator.out_activation_})" in first
    dropouts = [line.split()[5] for line in text.splitlines() if "(Dense)" in line]
    expected = [
        f"{layer.dropout:g}" if layer.dropout else "-" for layer in estimator.network_.layers
    ]
    assert dropouts == expected


def test_estimator_summary_needs_a_fit():
    with pytest.raises(NotFittedError):
        LayeredRegressor().summary()


def _value_cells(html):
    return dict(
        re.findall(r'Copy (\w+) to clipboard".*?<td class="value">(.*?)</td>', html, flags=re.S)
    )


@requires_sklearn("1.9", "The layout of the HTML repr's parameter table")
def test_html_repr_shows_per_layer_lists_in_full():
    sizes = (64, 32, 16, 8)
    activations = ["relu", "tanh", "gelu", "elu"]
    dropouts = [0.1, 0.2, 0.3, 0.0]
    clf = LayeredClassifier(sizes, activation=activations, dropout=dropouts)
    cells = _value_cells(clf._repr_html_())
    assert cells["hidden_layer_sizes"] == "(64, 32, 16, 8)"
    assert (
        cells["activation"]
        == "[&#x27;relu&#x27;, &#x27;tanh&#x27;, &#x27;gelu&#x27;, &#x27;elu&#x27;]"
    )
    assert cells["dropout"] == "[0.1, 0.2, 0.3, 0.0]"
    # Other values are as scikit-learn writes them.
    assert cells["solver"] == "&#x27;adam&#x27;"
    assert cells["alpha"] == "0.0001"
    # Inside a pipeline too.
    pipeline_cells = _value_cells(make_pipeline(StandardScaler(), clf)._repr_html_())
    assert pipeline_cells["hidden_layer_sizes"] == "(64, 32, 16, 8)"
    assert pipeline_cells["dropout"] == "[0.1, 0.2, 0.3, 0.0]"


@requires_sklearn("1.9", "The fitted-attribute table of the HTML repr")
def test_html_repr_of_a_fitted_estimator_holds_its_summary():
    X, y = load_iris(return_X_y=True)
    reg = _fit_quietly(
        LayeredRegressor(hidden_layer_sizes=(6, 5), max_iter=2, random_state=0), X, y
    )
    html = reg._repr_html_()
    summary = re.search(r'<pre class="sknet-summary">(.*?)</pre>', html, flags=re.S).group(1)
    assert summary == reg.summary()  # no character needs escaping in it
    assert "Fitted attributes" in html
    assert 'class="sknet-summary"' not in LayeredRegressor()._repr_html_()


@requires_sklearn("1.8", "Links from the HTML repr's parameters to their docs")
@pytest.mark.parametrize("Estimator", [LayeredClassifier, LayeredRegressor])
def test_html_repr_links_to_the_api_page(Estimator):
    link = Estimator()._get_doc_link()
    assert link == (
        f"https://sknet-layers.readthedocs.io/en/stable/generated/sknet.{Estimator.__name__}.html"
    )
    assert f'href="{link}"' in Estimator()._repr_html_()
    # The page exists in the built docs: api.rst documents the estimator as
    # sknet.<name> with autosummary pages in generated/.
    api = (DOCS / "api.rst").read_text()
    section = api[api.index("Estimators\n---") :]
    assert ":toctree: generated/" in section.split(Estimator.__name__)[0]
    assert re.search(r"\.\. currentmodule:: sknet\n", api[: api.index("Estimators\n---")])
    # Parameters link to their anchors on that page.
    html = Estimator(dropout=0.1)._repr_html_()
    assert f'href="{link}#:~:text=dropout' in html


def test_html_repr_has_no_link_for_a_subclass_defined_elsewhere():
    class MyClassifier(LayeredClassifier):
        pass

    assert MyClassifier()._get_doc_link() == ""
