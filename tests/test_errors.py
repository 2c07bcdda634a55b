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


def test_brms_and_bambi_keywords_are_answered_with_formulangs():
    import pandas as pd
    import pytest

    import formulang as fl
    from fit_support import prior_fit

    model = fl.Model("y ~ x + (1 | g)", pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7],
                                                      "x": [1.0, 2, 3, 4, 6, 5],
                                                      "g": list("aabbcc")}))
    for keyword, answer in (("iter", "use draws and tune"), ("warmup", "use tune"),
                            ("adapt_delta", "use target_accept"), ("cores", "use chains")):
        with pytest.raises(FormulangError, match=f"fit\\(\\) has no keyword '{keyword}'.*"
                                                 f"{answer}"):
            model.fit(**{keyword: 1})
    fit = prior_fit(model, draws=5)
    with pytest.raises(FormulangError, match="predict.*'allow_new_levels'.*use new_levels="):
        fit.predict(allow_new_levels=True)
    with pytest.raises(FormulangError, match="'re_formula'.*group_effects=False"):
        fit.conditional_effects("x", re_formula=None)
    with pytest.raises(FormulangError, match="'re_formula'.*group_effects=False"):
        fit.predictions(re_formula=None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        fit.slopes("x", colour="red")  # a keyword nobody spells that way: Python's own error


def test_warnings_after_the_fit_point_at_the_users_line():
    # formulang.data.notices.tell: the first frame outside formulang, however many calls
    # (a decorator, the effects verbs) lie between
    import numpy as np
    import pandas as pd
    import pytest

    import formulang as fl
    from formulang.data.bases import BasisWarning
    from fit_support import prior_fit

    frame = pd.DataFrame({"y": np.arange(8.0), "x": np.linspace(0, 1, 8), "g": list("aabbccdd")})
    fit = prior_fit(fl.Model("y ~ bs(x, df = 4) + (1 | g)", frame), draws=4)
    new = pd.DataFrame({"x": [0.5, np.nan, 2.0], "g": ["a", "a", "zz"]})
    with pytest.warns(UserWarning) as told:
        fit.predict(new)
    assert {type(w.message) for w in told} == {fl.MissingValuesWarning, fl.NewLevelsWarning,
                                              BasisWarning}
    with pytest.warns(BasisWarning) as basis:
        fit.predictions(new.dropna().assign(g="a"))
    assert {w.filename for w in [*told, *basis]} == {__file__}


def test_a_warning_to_a_script_without_a_file_is_shown():
    # python -c: the caller's module is __main__ with no source file; looking its line up
    # through the module's loader raised ImportError instead of warning
    import subprocess
    import sys

    code = ("import pandas as pd, formulang as fl; "
            "fl.Model('y ~ x', pd.DataFrame({'y': [1.0, 2, 3, None], 'x': [1.0, 2, 4, 3]}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "<string>:1: MissingValuesWarning: dropped 1 of 4 rows" in done.stderr
