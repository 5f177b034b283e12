"""greenaudio.plotting.plot_sensitivity: the heat map of Chapter 4.2's sensitivity study."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from greenaudio import plotting  # noqa: E402


def test_every_cell_is_labelled_and_readable_on_its_colour():
    table = pd.DataFrame({"model": ["a", "a", "b", "b"], "grid": ["x", "y", "x", "y"],
                          "kg": [1.0, 10.0, 100.0, 1000.0]})
    ax = plotting.plot_sensitivity(table, value="kg", row="model", column="grid", fontsize=9)
    labels = {(t.get_position(), t.get_text()): t for t in ax.texts}
    # pivot: rows a, b; columns x, y -> (column, row) positions hold the values written by hand above
    assert {(pos, text) for pos, text in labels} == {((0, 0), "1"), ((1, 0), "10"), ((0, 1), "100"),
                                                     ((1, 1), "1000")}
    by_text = {t.get_text(): t for t in ax.texts}
    assert by_text["1"].get_color() == "black"  # lightest colour of the log scale (pale yellow)
    assert by_text["1000"].get_color() == "white"  # darkest (deep red)
    assert all(t.get_fontsize() == 9 for t in ax.texts)
    plt.close(ax.figure)
