"""The volume controllers, one question per module, as upstream's pkg/controller/volume/:

- index.py: which volume a claim gets (persistentvolume/index.go and component-helpers' FindMatchingVolume);
- binder.py: binding claims and volumes, asking provisioners, releasing and reclaiming volumes
  (persistentvolume/pv_controller.go);
- protection.py: the kubernetes.io/pvc-protection and kubernetes.io/pv-protection finalizers
  (pvcprotection/, pvprotection/).

docs/storage.md tells the whole story: the objects, the phases, who writes what.
"""

from kubeling.controllers.persistentvolume.binder import PersistentVolumeController
from kubeling.controllers.persistentvolume.protection import PVCProtectionController, PVProtectionController

__all__ = ["PVCProtectionController", "PVProtectionController", "PersistentVolumeController"]
