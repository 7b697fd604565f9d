"""How the estimators show themselves: the summary table and the HTML repr."""

import numpy as np
from sklearn.utils.validation import check_is_fitted


class _ReprMixin:
    """The estimators' summary of layers, and the additions to scikit-learn's HTML repr."""

    # scikit-learn's HTML repr links the estimator's name (and each parameter)
    # to this API page of sknet's documentation.
    _doc_link_module = "sknet"
    _doc_link_template = (
        "https://sknet-layers.readthedocs.io/en/stable/generated/sknet.{estimator_name}.html"
    )

    def summary(self):
        """Return a table of the fitted network's layers and parameters.

        One row per layer (hidden layers, then the output layer): its output
        shape, activation, dropout rate and number of parameters; then the
        total, trainable and non-trainable parameter counts and the memory
        they take. Without ``numeric_embedding="periodic"`` or
        ``batch_norm=True``, the counts add up to the sizes of ``coefs_`` and
        ``intercepts_``; with them, the table has a row for each embedding and
        batch-norm layer too, which ``coefs_`` leaves out. The table is
        returned as text: ``print`` it. It also shows in the estimator's HTML
        representation (in a notebook).

        .. versionadded:: 0.2

        Returns
        -------
        str

        See Also
        --------
        sknet.Network.summary : The same table for the engine.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sknet import LayeredClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = LayeredClassifier((8, 4), activation=["relu", "tanh"],
        ...                         dropout=[0.1, 0.0], max_iter=5,
        ...                         random_state=0)
        >>> print(clf.fit(X, y).summary())
        LayeredClassifier: 4 input features, 3 outputs (softmax)
        ==================================================================
        Layer (type)      Output shape   Activation   Dropout       Params
        ------------------------------------------------------------------
        dense (Dense)     (None, 8)      relu         0.1               40
        dense_1 (Dense)   (None, 4)      tanh         -                 36
        dense_2 (Dense)   (None, 3)      softmax      -                 15
        ==================================================================
        Total params: 91 (728 B)
        Trainable params: 91 (728 B)
        Non-trainable params: 0 (0 B)
        >>> sum(w.size for w in clf.coefs_ + clf.intercepts_)
        91
        """
        check_is_fitted(self, "network_")
        from .._summary import summary_table

        outputs = self.n_outputs_
        title = (
            f"{type(self).__name__}: {self.n_features_in_} input features, "
            f"{outputs} output{'s' if outputs != 1 else ''} "
            f"({self.out_activation_})"
        )
        return summary_table(self.network_, title=title)

    def _get_params_html(self, deep=True, doc_link=""):
        # scikit-learn's table cuts sequences short ("(64, ...)"): the
        # per-layer lists are what sets these estimators apart, so their
        # values are shown in full (and copied in full by the table's button).
        # scikit-learn 1.7's takes no doc_link (1.8 added it, with "" as its default).
        params = super()._get_params_html(*((deep, doc_link) if doc_link else (deep,)))
        table_of = type(params)._html_repr

        def full_table():
            return _ReprMixin._with_full_values(table_of(params), params)

        params._html_repr = full_table
        return params

    @staticmethod
    def _with_full_values(table, params):
        """``table`` with the value cell of every sequence parameter written in full."""
        import html

        for name, value in params.items():
            if not isinstance(value, (list, tuple, np.ndarray)):
                continue
            row = table.find(f"Copy {html.escape(name)} to clipboard")
            start = table.find('<td class="value">', row)
            end = table.find("</td>", start)
            if row < 0 or start < 0 or end < 0:
                continue  # a table laid out differently keeps its own cell
            start += len('<td class="value">')
            table = table[:start] + html.escape(repr(value)) + table[end:]
        return table

    def _get_fitted_attr_html(self, doc_link=""):
        # The fitted attributes' table, followed by the summary of the layers.
        attributes = super()._get_fitted_attr_html(doc_link)
        if not hasattr(self, "network_"):
            return attributes
        table_of = type(attributes)._html_repr
        summary = self.summary()

        def with_summary():
            import html

            return (
                f"{table_of(attributes)}"
                '<div class="estimator-table"><details><summary>Summary</summary>'
                f'<pre class="sknet-summary">{html.escape(summary)}</pre></details></div>'
            )

        attributes._html_repr = with_summary
        return attributes
