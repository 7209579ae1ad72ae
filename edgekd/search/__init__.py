"""Search: the most accurate student that fits a device's budget, over the student families and their sizes.

Calling the package runs :func:`edgekd.api.search`: ``edgekd.search(teacher="t.keras", device="rpi4", ...)``.
``space`` says what is searched, ``budget`` what a candidate may cost, ``cost`` what it costs
(before any training), ``engine`` runs the Optuna study and ``report`` writes what it found.
The package top (``edgekd/__init__.py``) makes it callable; this package knows nothing of the API.
"""
