"""The shapes of the API objects kubeling's components read: one vocabulary for every module.

Objects travel as the JSON the API serves, decoded into plain dicts; `Obj` names such a dict. The TypedDicts below
spell out the fields the components read (all optional, as in JSON), after the Go types in upstream's
`k8s.io/api/core/v1/types.go` and `k8s.io/apimachinery/pkg/apis/meta/v1/types.go`. They document what a field is
called and what it holds; code that reads an object it got from the API keeps the `Obj` it was given, and names
one of these where a function builds or returns that shape (a condition, an owner reference).

The idea follows kopf's `_cogs/structs/bodies.py`: raw bodies stay dicts, typed for the reader.
"""

from __future__ import annotations

from typing import Any, TypedDict

Obj = dict[str, Any]
"""Any API object, as decoded from JSON."""


# Metadata (apimachinery's meta/v1)


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool  # at most one owner is the managing controller
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]


class Condition(TypedDict, total=False):
    """One entry of `status.conditions` (meta/v1 Condition, and the per-kind PodCondition, NodeCondition, ...)."""

    type: str
    status: str  # "True", "False" or "Unknown"
    reason: str
    message: str
    lastTransitionTime: str | None  # when status last changed
    lastProbeTime: str | None  # pods and jobs: when the condition was last checked
    lastHeartbeatTime: str  # nodes: when the kubelet last reported it
    lastUpdateTime: str  # deployments: when reason or message last changed
    observedGeneration: int


class ObjectReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    namespace: str
    name: str
    uid: str
    resourceVersion: str
    fieldPath: str


# Pods (core/v1)


class ContainerPort(TypedDict, total=False):
    name: str
    containerPort: int
    hostPort: int
    hostIP: str
    protocol: str


class ResourceRequirements(TypedDict, total=False):
    requests: dict[str, str]
    limits: dict[str, str]


class Container(TypedDict, total=False):
    name: str
    image: str
    imagePullPolicy: str
    command: list[str]
    args: list[str]
    workingDir: str
    env: list[Obj]
    ports: list[ContainerPort]
    resources: ResourceRequirements
    volumeMounts: list[Obj]
    livenessProbe: Obj
    readinessProbe: Obj
    startupProbe: Obj
    restartPolicy: str  # init containers only: "Always" makes a sidecar


class Toleration(TypedDict, total=False):
    key: str
    operator: str  # "Equal" (the default) or "Exists"
    value: str
    effect: str  # "" matches every effect
    tolerationSeconds: int


class PodSpec(TypedDict, total=False):
    nodeName: str
    nodeSelector: dict[str, str]
    affinity: Obj
    tolerations: list[Toleration]
    schedulerName: str
    priority: int
    containers: list[Container]
    initContainers: list[Container]
    volumes: list[Obj]
    restartPolicy: str
    terminationGracePeriodSeconds: int
    serviceAccountName: str
    hostNetwork: bool
    overhead: dict[str, str]


class ContainerStatus(TypedDict, total=False):
    name: str
    ready: bool
    started: bool
    restartCount: int
    image: str
    imageID: str
    containerID: str
    state: Obj
    lastState: Obj


class PodStatus(TypedDict, total=False):
    phase: str  # Pending, Running, Succeeded, Failed, Unknown
    conditions: list[Condition]
    hostIP: str
    podIP: str
    podIPs: list[dict[str, str]]
    startTime: str
    reason: str
    message: str
    initContainerStatuses: list[ContainerStatus]
    containerStatuses: list[ContainerStatus]


class Pod(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


# Nodes (core/v1)


class Taint(TypedDict, total=False):
    key: str
    value: str
    effect: str  # NoSchedule, PreferNoSchedule or NoExecute
    timeAdded: str


class NodeSpec(TypedDict, total=False):
    podCIDR: str
    podCIDRs: list[str]
    unschedulable: bool
    taints: list[Taint]


class NodeAddress(TypedDict):
    type: str  # InternalIP, Hostname, ...
    address: str


class NodeStatus(TypedDict, total=False):
    capacity: dict[str, str]
    allocatable: dict[str, str]
    conditions: list[Condition]
    addresses: list[NodeAddress]
    daemonEndpoints: Obj
    nodeInfo: dict[str, str]
    images: list[Obj]


class Node(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: NodeSpec
    status: NodeStatus


# Services and their endpoints (core/v1)


class ServicePort(TypedDict, total=False):
    name: str
    protocol: str
    port: int
    targetPort: int | str  # a number, or the name of a container port
    nodePort: int


class ServiceSpec(TypedDict, total=False):
    type: str  # ClusterIP, NodePort, LoadBalancer or ExternalName
    selector: dict[str, str]
    clusterIP: str
    clusterIPs: list[str]
    ports: list[ServicePort]
    sessionAffinity: str
    externalName: str
    publishNotReadyAddresses: bool


class Service(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: ServiceSpec


class EndpointAddress(TypedDict, total=False):
    ip: str
    hostname: str
    nodeName: str
    targetRef: ObjectReference


class EndpointPort(TypedDict, total=False):
    name: str
    port: int
    protocol: str


class EndpointSubset(TypedDict, total=False):
    addresses: list[EndpointAddress]
    notReadyAddresses: list[EndpointAddress]
    ports: list[EndpointPort]


class Endpoints(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    subsets: list[EndpointSubset]


# Persistent volumes (core/v1) and storage classes (storage.k8s.io/v1)


class PersistentVolumeSpec(TypedDict, total=False):
    capacity: dict[str, str]  # {"storage": "1Gi"}
    accessModes: list[str]  # ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod
    claimRef: ObjectReference  # the claim this volume is (or is to be) bound to
    persistentVolumeReclaimPolicy: str  # Retain, Delete (Recycle is deprecated)
    storageClassName: str
    volumeMode: str  # Filesystem or Block
    hostPath: dict[str, str]  # one source: hostPath, local or nfs
    local: dict[str, str]
    nfs: dict[str, Any]
    nodeAffinity: dict[str, Any]  # {"required": NodeSelector}: the nodes that can reach the volume


class PersistentVolumeStatus(TypedDict, total=False):
    phase: str  # Pending, Available, Bound, Released, Failed
    reason: str
    message: str
    lastPhaseTransitionTime: str


class PersistentVolume(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PersistentVolumeSpec
    status: PersistentVolumeStatus


class PersistentVolumeClaimSpec(TypedDict, total=False):
    accessModes: list[str]
    selector: dict[str, Any]  # a LabelSelector over volumes' labels
    resources: dict[str, dict[str, str]]  # {"requests": {"storage": "1Gi"}}
    volumeName: str  # the volume bound to it (set by the binder, or by the user to pre-bind)
    storageClassName: str  # "" asks for no class; unset gets the default class at admission
    volumeMode: str


class PersistentVolumeClaimStatus(TypedDict, total=False):
    phase: str  # Pending, Bound, Lost
    accessModes: list[str]  # the bound volume's
    capacity: dict[str, str]  # the bound volume's


class PersistentVolumeClaim(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PersistentVolumeClaimSpec
    status: PersistentVolumeClaimStatus


class StorageClass(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    provisioner: str  # who makes volumes of this class (a name like "kubeling.io/local-path")
    parameters: dict[str, str]  # for the provisioner
    reclaimPolicy: str  # of the volumes it provisions: Delete (default) or Retain
    volumeBindingMode: str  # Immediate or WaitForFirstConsumer
    allowVolumeExpansion: bool
