"""Browser tests of the staff pages (Playwright driving the system's Chromium).

A package on purpose: its conftest is then imported as ``browser.conftest`` and does not replace
the ``conftest`` module (tests/conftest.py) that the other test modules import from.
"""
