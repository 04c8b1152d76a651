"""The controllers run by `kubeling controller-manager`; one module per controller, listed in `registry.py`."""
