"""What people run: the ``formulang`` command line (:mod:`formulang.app.cli`) and the
interactive console (:mod:`formulang.app.repl`), both on one service layer
(:mod:`formulang.app.commands`: loading data, building and fitting models, prediction tables,
plots, and the options that ask for them)."""
