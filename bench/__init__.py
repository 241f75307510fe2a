"""paradex-mock's benchmark (issue 6): ``python -m bench`` prints one table.

Not part of the wheel (``tool.setuptools.packages`` lists ``mockserver`` only) and
not part of the test suite; ``tests/test_bench_smoke.py`` runs ``--smoke`` so it
cannot rot. See ``bench/README.md`` for what each row measures.
"""
