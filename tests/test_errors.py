"""How errors render: message, formula, caret; positions on multi-line formulas."""

from formulang import DataError, FormulaError, FormulangError, PriorError, parse


def test_caret_under_the_span():
    err = FormulaError("bad", text="y ~ foo(x)", start=4, end=7)
    assert str(err) == "bad\n  y ~ foo(x)\n      ^^^"
    assert err.column == 5 and err.line == 1


def test_caret_at_end_of_text():
    err = FormulaError("expected the right-hand side after '~'", text="y ~", start=3, end=4)
    assert str(err).splitlines()[-1] == "     ^"


def test_multi_line_formula_shows_the_line():
    try:
        parse("y ~ x +\n    foo(z)")
    except FormulaError as err:
        lines = str(err).splitlines()
        assert lines[0].endswith("(line 2)")
        assert lines[1] == "      foo(z)"
        assert lines[2] == "      ^^^"
        assert (err.line, err.column) == (2, 5)
    else:
        raise AssertionError("no error")


def test_error_hierarchy():
    assert issubclass(FormulaError, FormulangError)
    assert issubclass(PriorError, FormulaError)
    assert issubclass(DataError, FormulangError)
    assert issubclass(FormulangError, ValueError)


def test_a_models_data_warnings_point_at_the_line_that_built_it():
    # not at formulang/model.py: a notebook shows the user's cell line; also when the
    # dropped rows leave none and the build fails
    import numpy as np
    import pandas as pd
    import pytest

    import formulang as fl

    frame = pd.DataFrame({"y": [1.0, 2.0, np.nan, 4.0, 5.0], "x": [1.0, 2.0, 3.0, 4.0, 6.0],
                          "g": ["a", "a", "a", "a", "a"]})
    with pytest.warns(fl.MissingValuesWarning) as told:
        fl.Model("y ~ x", frame)
    assert [w.filename for w in told] == [__file__]
    with pytest.warns(fl.GroupingWarning) as told:
        fl.Model("y ~ x + (1 | g)", frame.dropna())
    assert {w.filename for w in told} == {__file__}
    with pytest.warns(fl.MissingValuesWarning) as told, pytest.raises(DataError):
        fl.Model("y ~ x", frame.assign(y=np.nan))
    assert [w.filename for w in told] == [__file__]
