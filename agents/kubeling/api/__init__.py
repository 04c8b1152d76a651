"""Pure API machinery: resource types, selectors, validation, patches, table printers.

Nothing in this package does I/O or imports Flask or etcd, so every piece is unit-testable on plain dicts.
"""
