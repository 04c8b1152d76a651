"""Server-side apply and field ownership (`metadata.managedFields`), as upstream's field manager keeps them.

`fieldset.py`: sets of fields in the FieldsV1 encoding; `merge.py`: an applied configuration merged onto the live
object, and the fields its manager let go removed; `manager.py`: the entries of managedFields kept up to date on
every write, apply's conflicts and `force`.
"""

from kubeling.api.fieldmanager.manager import Writer, apply, manager_name, update

__all__ = ["Writer", "apply", "manager_name", "update"]
