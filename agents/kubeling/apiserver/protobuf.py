"""Decode request bodies sent as `application/vnd.kubernetes.protobuf` into the dict their JSON form would be.

kubectl's typed-client commands (`kubectl create namespace|deployment|configmap|secret|service|job|cronjob|
serviceaccount|...`) POST protobuf and never retry with JSON on 415, so the API server must read it. Everything
else in kubeling works on JSON-shaped dicts, so this module turns the wire bytes into exactly that shape and
nothing downstream needs to know protobuf existed.

The body is upstream's envelope: the magic `k8s\\x00`, then a `runtime.Unknown` message
(1 = typeMeta {1 = apiVersion, 2 = kind}, 2 = raw object bytes, 3 = contentEncoding, 4 = contentType).

Field numbers in SCHEMAS are upstream's (k8s.io/api core, apps, batch and policy v1, apimachinery meta/v1,
util/intstr and api/resource `generated.proto`); they never change once released.

Mapping proto2 to JSON: Go writes every non-pointer scalar, zero or not, but its JSON tags say `omitempty`, so
a zero on the wire for such a field is dropped. Pointer fields (`*int32`, `*bool`, `*string`) are only written
when set, and required fields have no `omitempty`; both are marked with a leading `*` in the schema and keep
their zero (`replicas: 0` must survive). Non-pointer struct fields are always written and Go's JSON always
prints them, so a present message becomes a dict, possibly `{}` (`resources: {}`, `strategy: {}`). A zero
`metav1.Time` is `null` in JSON (`creationTimestamp: null`); we omit it instead.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeling.api.errors import StatusError

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5

# A field is (jsonName, type). Types: "string" "int32" "int64" "bool" "bytes" (a leading "*" keeps zero
# values, see the module docstring), a message name from SCHEMAS, "[]T" for repeated, "map[string]T" for maps,
# and "inline:T" for a Go embedded struct whose fields JSON flattens into the parent.
Field = tuple[str, str]

_META = {
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        4: ("selfLink", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int64"),
        8: ("creationTimestamp", "Time"),
        9: ("deletionTimestamp", "Time"),
        10: ("deletionGracePeriodSeconds", "*int64"),
        11: ("labels", "map[string]string"),
        12: ("annotations", "map[string]string"),
        13: ("ownerReferences", "[]OwnerReference"),
        14: ("finalizers", "[]string"),
    },
    "OwnerReference": {
        5: ("apiVersion", "*string"),
        1: ("kind", "*string"),
        3: ("name", "*string"),
        4: ("uid", "*string"),
        6: ("controller", "*bool"),
        7: ("blockOwnerDeletion", "*bool"),
    },
    "LabelSelector": {1: ("matchLabels", "map[string]string"), 2: ("matchExpressions", "[]LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "*string"), 2: ("operator", "*string"), 3: ("values", "[]string")},
    "Condition": {
        1: ("type", "*string"),
        2: ("status", "*string"),
        3: ("observedGeneration", "int64"),
        4: ("lastTransitionTime", "Time"),
        5: ("reason", "*string"),
        6: ("message", "*string"),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "*int64"),
        2: ("preconditions", "Preconditions"),
        3: ("orphanDependents", "*bool"),
        4: ("propagationPolicy", "*string"),
        5: ("dryRun", "[]string"),
        6: ("ignoreStoreReadErrorWithClusterBreakingPotential", "*bool"),
    },
    "Preconditions": {1: ("uid", "*string"), 2: ("resourceVersion", "*string")},
}

_CORE_OBJECTS = {
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "NamespaceStatus")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "NamespaceStatus": {1: ("phase", "string"), 2: ("conditions", "[]NamespaceCondition")},
    "NamespaceCondition": {
        1: ("type", "*string"),
        2: ("status", "*string"),
        4: ("lastTransitionTime", "Time"),
        5: ("reason", "string"),
        6: ("message", "string"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        4: ("immutable", "*bool"),
        2: ("data", "map[string]string"),
        3: ("binaryData", "map[string]bytes"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        5: ("immutable", "*bool"),
        2: ("data", "map[string]bytes"),
        4: ("stringData", "map[string]string"),
        3: ("type", "string"),
    },
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        2: ("secrets", "[]ObjectReference"),
        3: ("imagePullSecrets", "[]LocalObjectReference"),
        4: ("automountServiceAccountToken", "*bool"),
    },
    "ObjectReference": {
        1: ("kind", "string"),
        2: ("namespace", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("resourceVersion", "string"),
        7: ("fieldPath", "string"),
    },
    "LocalObjectReference": {1: ("name", "string")},
    "Binding": {1: ("metadata", "ObjectMeta"), 2: ("target", "ObjectReference")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec"), 3: ("status", "ServiceStatus")},
    "ServiceSpec": {
        1: ("ports", "[]ServicePort"),
        2: ("selector", "map[string]string"),
        3: ("clusterIP", "string"),
        18: ("clusterIPs", "[]string"),
        4: ("type", "string"),
        5: ("externalIPs", "[]string"),
        7: ("sessionAffinity", "string"),
        8: ("loadBalancerIP", "string"),
        9: ("loadBalancerSourceRanges", "[]string"),
        10: ("externalName", "string"),
        11: ("externalTrafficPolicy", "string"),
        12: ("healthCheckNodePort", "int32"),
        13: ("publishNotReadyAddresses", "bool"),
        14: ("sessionAffinityConfig", "SessionAffinityConfig"),
        19: ("ipFamilies", "[]string"),
        17: ("ipFamilyPolicy", "*string"),
        20: ("allocateLoadBalancerNodePorts", "*bool"),
        21: ("loadBalancerClass", "*string"),
        22: ("internalTrafficPolicy", "*string"),
        23: ("trafficDistribution", "*string"),
    },
    "ServicePort": {
        1: ("name", "string"),
        2: ("protocol", "string"),
        6: ("appProtocol", "*string"),
        3: ("port", "*int32"),
        4: ("targetPort", "IntOrString"),
        5: ("nodePort", "int32"),
    },
    "SessionAffinityConfig": {1: ("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: ("timeoutSeconds", "*int32")},
    "ServiceStatus": {1: ("loadBalancer", "LoadBalancerStatus"), 2: ("conditions", "[]Condition")},
    "LoadBalancerStatus": {1: ("ingress", "[]LoadBalancerIngress")},
    "LoadBalancerIngress": {1: ("ip", "string"), 2: ("hostname", "string"), 3: ("ipMode", "*string")},
    "PersistentVolumeClaim": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "PersistentVolumeClaimSpec"),
        3: ("status", "PersistentVolumeClaimStatus"),
    },
    "PersistentVolumeClaimSpec": {
        1: ("accessModes", "[]string"),
        4: ("selector", "LabelSelector"),
        2: ("resources", "VolumeResourceRequirements"),
        3: ("volumeName", "string"),
        5: ("storageClassName", "*string"),
        6: ("volumeMode", "*string"),
        9: ("volumeAttributesClassName", "*string"),
    },
    "VolumeResourceRequirements": {
        1: ("limits", "map[string]Quantity"),
        2: ("requests", "map[string]Quantity"),
    },
    "PersistentVolumeClaimStatus": {
        1: ("phase", "string"),
        2: ("accessModes", "[]string"),
        3: ("capacity", "map[string]Quantity"),
    },
}

_POD = {
    "Pod": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec"), 3: ("status", "PodStatus")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {
        1: ("volumes", "[]Volume"),
        20: ("initContainers", "[]Container"),
        2: ("containers", "[]Container"),
        3: ("restartPolicy", "string"),
        4: ("terminationGracePeriodSeconds", "*int64"),
        5: ("activeDeadlineSeconds", "*int64"),
        6: ("dnsPolicy", "string"),
        7: ("nodeSelector", "map[string]string"),
        8: ("serviceAccountName", "string"),
        9: ("serviceAccount", "string"),
        21: ("automountServiceAccountToken", "*bool"),
        10: ("nodeName", "string"),
        11: ("hostNetwork", "bool"),
        12: ("hostPID", "bool"),
        13: ("hostIPC", "bool"),
        27: ("shareProcessNamespace", "*bool"),
        14: ("securityContext", "PodSecurityContext"),
        15: ("imagePullSecrets", "[]LocalObjectReference"),
        16: ("hostname", "string"),
        17: ("subdomain", "string"),
        18: ("affinity", "Affinity"),
        19: ("schedulerName", "string"),
        22: ("tolerations", "[]Toleration"),
        23: ("hostAliases", "[]HostAlias"),
        24: ("priorityClassName", "string"),
        25: ("priority", "*int32"),
        26: ("dnsConfig", "PodDNSConfig"),
        28: ("readinessGates", "[]PodReadinessGate"),
        29: ("runtimeClassName", "*string"),
        30: ("enableServiceLinks", "*bool"),
        31: ("preemptionPolicy", "*string"),
        32: ("overhead", "map[string]Quantity"),
        33: ("topologySpreadConstraints", "[]TopologySpreadConstraint"),
        35: ("setHostnameAsFQDN", "*bool"),
        36: ("os", "PodOS"),
        37: ("hostUsers", "*bool"),
        38: ("schedulingGates", "[]PodSchedulingGate"),
        40: ("resources", "ResourceRequirements"),
    },
    "Container": {
        1: ("name", "*string"),
        2: ("image", "string"),
        3: ("command", "[]string"),
        4: ("args", "[]string"),
        5: ("workingDir", "string"),
        6: ("ports", "[]ContainerPort"),
        19: ("envFrom", "[]EnvFromSource"),
        7: ("env", "[]EnvVar"),
        8: ("resources", "ResourceRequirements"),
        24: ("restartPolicy", "*string"),
        9: ("volumeMounts", "[]VolumeMount"),
        10: ("livenessProbe", "Probe"),
        11: ("readinessProbe", "Probe"),
        22: ("startupProbe", "Probe"),
        12: ("lifecycle", "Lifecycle"),
        13: ("terminationMessagePath", "string"),
        20: ("terminationMessagePolicy", "string"),
        14: ("imagePullPolicy", "string"),
        15: ("securityContext", "SecurityContext"),
        16: ("stdin", "bool"),
        17: ("stdinOnce", "bool"),
        18: ("tty", "bool"),
    },
    "ContainerPort": {
        1: ("name", "string"),
        2: ("hostPort", "int32"),
        3: ("containerPort", "*int32"),
        4: ("protocol", "string"),
        5: ("hostIP", "string"),
    },
    "EnvFromSource": {
        1: ("prefix", "string"),
        2: ("configMapRef", "ConfigMapEnvSource"),
        3: ("secretRef", "SecretEnvSource"),
    },
    "ConfigMapEnvSource": {1: ("", "inline:LocalObjectReference"), 2: ("optional", "*bool")},
    "SecretEnvSource": {1: ("", "inline:LocalObjectReference"), 2: ("optional", "*bool")},
    "EnvVar": {1: ("name", "*string"), 2: ("value", "string"), 3: ("valueFrom", "EnvVarSource")},
    "EnvVarSource": {
        1: ("fieldRef", "ObjectFieldSelector"),
        2: ("resourceFieldRef", "ResourceFieldSelector"),
        3: ("configMapKeyRef", "ConfigMapKeySelector"),
        4: ("secretKeyRef", "SecretKeySelector"),
    },
    "ObjectFieldSelector": {1: ("apiVersion", "string"), 2: ("fieldPath", "*string")},
    "ResourceFieldSelector": {1: ("containerName", "string"), 2: ("resource", "*string"), 3: ("divisor", "Quantity")},
    "ConfigMapKeySelector": {1: ("", "inline:LocalObjectReference"), 2: ("key", "*string"), 3: ("optional", "*bool")},
    "SecretKeySelector": {1: ("", "inline:LocalObjectReference"), 2: ("key", "*string"), 3: ("optional", "*bool")},
    "ResourceRequirements": {1: ("limits", "map[string]Quantity"), 2: ("requests", "map[string]Quantity")},
    "VolumeMount": {
        1: ("name", "*string"),
        2: ("readOnly", "bool"),
        7: ("recursiveReadOnly", "*string"),
        3: ("mountPath", "*string"),
        4: ("subPath", "string"),
        5: ("mountPropagation", "*string"),
        6: ("subPathExpr", "string"),
    },
    "Probe": {
        1: ("", "inline:ProbeHandler"),
        2: ("initialDelaySeconds", "int32"),
        3: ("timeoutSeconds", "int32"),
        4: ("periodSeconds", "int32"),
        5: ("successThreshold", "int32"),
        6: ("failureThreshold", "int32"),
        7: ("terminationGracePeriodSeconds", "*int64"),
    },
    "ProbeHandler": {
        1: ("exec", "ExecAction"),
        2: ("httpGet", "HTTPGetAction"),
        3: ("tcpSocket", "TCPSocketAction"),
        4: ("grpc", "GRPCAction"),
    },
    "ExecAction": {1: ("command", "[]string")},
    "HTTPGetAction": {
        1: ("path", "string"),
        2: ("port", "IntOrString"),
        3: ("host", "string"),
        4: ("scheme", "string"),
        5: ("httpHeaders", "[]HTTPHeader"),
    },
    "HTTPHeader": {1: ("name", "*string"), 2: ("value", "*string")},
    "TCPSocketAction": {1: ("port", "IntOrString"), 2: ("host", "string")},
    "GRPCAction": {1: ("port", "*int32"), 2: ("service", "*string")},
    "Lifecycle": {
        1: ("postStart", "LifecycleHandler"),
        2: ("preStop", "LifecycleHandler"),
        3: ("stopSignal", "*string"),
    },
    "LifecycleHandler": {
        1: ("exec", "ExecAction"),
        2: ("httpGet", "HTTPGetAction"),
        3: ("tcpSocket", "TCPSocketAction"),
        4: ("sleep", "SleepAction"),
    },
    "SleepAction": {1: ("seconds", "*int64")},
    "SecurityContext": {
        1: ("capabilities", "Capabilities"),
        2: ("privileged", "*bool"),
        3: ("seLinuxOptions", "SELinuxOptions"),
        4: ("runAsUser", "*int64"),
        8: ("runAsGroup", "*int64"),
        5: ("runAsNonRoot", "*bool"),
        6: ("readOnlyRootFilesystem", "*bool"),
        7: ("allowPrivilegeEscalation", "*bool"),
        9: ("procMount", "*string"),
        11: ("seccompProfile", "SeccompProfile"),
        12: ("appArmorProfile", "AppArmorProfile"),
    },
    "Capabilities": {1: ("add", "[]string"), 2: ("drop", "[]string")},
    "SELinuxOptions": {1: ("user", "string"), 2: ("role", "string"), 3: ("type", "string"), 4: ("level", "string")},
    "SeccompProfile": {1: ("type", "*string"), 2: ("localhostProfile", "*string")},
    "AppArmorProfile": {1: ("type", "*string"), 2: ("localhostProfile", "*string")},
    "PodSecurityContext": {
        1: ("seLinuxOptions", "SELinuxOptions"),
        2: ("runAsUser", "*int64"),
        6: ("runAsGroup", "*int64"),
        3: ("runAsNonRoot", "*bool"),
        4: ("supplementalGroups", "[]int64"),
        12: ("supplementalGroupsPolicy", "*string"),
        5: ("fsGroup", "*int64"),
        7: ("sysctls", "[]Sysctl"),
        9: ("fsGroupChangePolicy", "*string"),
        10: ("seccompProfile", "SeccompProfile"),
        11: ("appArmorProfile", "AppArmorProfile"),
        13: ("seLinuxChangePolicy", "*string"),
    },
    "Sysctl": {1: ("name", "*string"), 2: ("value", "*string")},
    "Volume": {1: ("name", "*string"), 2: ("", "inline:VolumeSource")},
    "VolumeSource": {
        1: ("hostPath", "HostPathVolumeSource"),
        2: ("emptyDir", "EmptyDirVolumeSource"),
        6: ("secret", "SecretVolumeSource"),
        7: ("nfs", "NFSVolumeSource"),
        10: ("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource"),
        16: ("downwardAPI", "DownwardAPIVolumeSource"),
        19: ("configMap", "ConfigMapVolumeSource"),
        26: ("projected", "ProjectedVolumeSource"),
    },
    "HostPathVolumeSource": {1: ("path", "*string"), 2: ("type", "*string")},
    "EmptyDirVolumeSource": {1: ("medium", "string"), 2: ("sizeLimit", "Quantity")},
    "NFSVolumeSource": {1: ("server", "*string"), 2: ("path", "*string"), 3: ("readOnly", "bool")},
    "SecretVolumeSource": {
        1: ("secretName", "string"),
        2: ("items", "[]KeyToPath"),
        3: ("defaultMode", "*int32"),
        4: ("optional", "*bool"),
    },
    "ConfigMapVolumeSource": {
        1: ("", "inline:LocalObjectReference"),
        2: ("items", "[]KeyToPath"),
        3: ("defaultMode", "*int32"),
        4: ("optional", "*bool"),
    },
    "KeyToPath": {1: ("key", "*string"), 2: ("path", "*string"), 3: ("mode", "*int32")},
    "PersistentVolumeClaimVolumeSource": {1: ("claimName", "*string"), 2: ("readOnly", "bool")},
    "DownwardAPIVolumeSource": {1: ("items", "[]DownwardAPIVolumeFile"), 2: ("defaultMode", "*int32")},
    "DownwardAPIVolumeFile": {
        1: ("path", "*string"),
        2: ("fieldRef", "ObjectFieldSelector"),
        3: ("resourceFieldRef", "ResourceFieldSelector"),
        4: ("mode", "*int32"),
    },
    "ProjectedVolumeSource": {1: ("sources", "[]VolumeProjection"), 2: ("defaultMode", "*int32")},
    "VolumeProjection": {
        1: ("secret", "SecretProjection"),
        2: ("downwardAPI", "DownwardAPIProjection"),
        3: ("configMap", "ConfigMapProjection"),
        4: ("serviceAccountToken", "ServiceAccountTokenProjection"),
    },
    "SecretProjection": {1: ("", "inline:LocalObjectReference"), 2: ("items", "[]KeyToPath"), 4: ("optional", "*bool")},
    "ConfigMapProjection": {
        1: ("", "inline:LocalObjectReference"),
        2: ("items", "[]KeyToPath"),
        4: ("optional", "*bool"),
    },
    "DownwardAPIProjection": {1: ("items", "[]DownwardAPIVolumeFile")},
    "ServiceAccountTokenProjection": {
        1: ("audience", "string"),
        2: ("expirationSeconds", "*int64"),
        3: ("path", "*string"),
    },
    "Affinity": {
        1: ("nodeAffinity", "NodeAffinity"),
        2: ("podAffinity", "PodAffinity"),
        3: ("podAntiAffinity", "PodAffinity"),
    },
    "NodeAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "NodeSelector"),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]PreferredSchedulingTerm"),
    },
    "NodeSelector": {1: ("nodeSelectorTerms", "[]NodeSelectorTerm")},
    "NodeSelectorTerm": {
        1: ("matchExpressions", "[]NodeSelectorRequirement"),
        2: ("matchFields", "[]NodeSelectorRequirement"),
    },
    "NodeSelectorRequirement": {1: ("key", "*string"), 2: ("operator", "*string"), 3: ("values", "[]string")},
    "PreferredSchedulingTerm": {1: ("weight", "*int32"), 2: ("preference", "NodeSelectorTerm")},
    # PodAntiAffinity has the same two fields, so one schema serves both.
    "PodAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "[]PodAffinityTerm"),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "[]WeightedPodAffinityTerm"),
    },
    "PodAffinityTerm": {
        1: ("labelSelector", "LabelSelector"),
        2: ("namespaces", "[]string"),
        3: ("topologyKey", "*string"),
        4: ("namespaceSelector", "LabelSelector"),
        5: ("matchLabelKeys", "[]string"),
        6: ("mismatchLabelKeys", "[]string"),
    },
    "WeightedPodAffinityTerm": {1: ("weight", "*int32"), 2: ("podAffinityTerm", "PodAffinityTerm")},
    "Toleration": {
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("value", "string"),
        4: ("effect", "string"),
        5: ("tolerationSeconds", "*int64"),
    },
    "HostAlias": {1: ("ip", "*string"), 2: ("hostnames", "[]string")},
    "PodDNSConfig": {
        1: ("nameservers", "[]string"),
        2: ("searches", "[]string"),
        3: ("options", "[]PodDNSConfigOption"),
    },
    "PodDNSConfigOption": {1: ("name", "string"), 2: ("value", "*string")},
    "PodReadinessGate": {1: ("conditionType", "*string")},
    "TopologySpreadConstraint": {
        1: ("maxSkew", "*int32"),
        2: ("topologyKey", "*string"),
        3: ("whenUnsatisfiable", "*string"),
        4: ("labelSelector", "LabelSelector"),
        5: ("minDomains", "*int32"),
        6: ("nodeAffinityPolicy", "*string"),
        7: ("nodeTaintsPolicy", "*string"),
        8: ("matchLabelKeys", "[]string"),
    },
    "PodOS": {1: ("name", "*string")},
    "PodSchedulingGate": {1: ("name", "*string")},
    "PodStatus": {
        17: ("observedGeneration", "int64"),
        1: ("phase", "string"),
        2: ("conditions", "[]PodCondition"),
        3: ("message", "string"),
        4: ("reason", "string"),
        11: ("nominatedNodeName", "string"),
        5: ("hostIP", "string"),
        16: ("hostIPs", "[]HostIP"),
        6: ("podIP", "string"),
        12: ("podIPs", "[]HostIP"),
        7: ("startTime", "Time"),
        10: ("initContainerStatuses", "[]ContainerStatus"),
        8: ("containerStatuses", "[]ContainerStatus"),
        9: ("qosClass", "string"),
    },
    # PodIP has the same single field as HostIP.
    "HostIP": {1: ("ip", "*string")},
    "PodCondition": {
        1: ("type", "*string"),
        7: ("observedGeneration", "int64"),
        2: ("status", "*string"),
        3: ("lastProbeTime", "Time"),
        4: ("lastTransitionTime", "Time"),
        5: ("reason", "string"),
        6: ("message", "string"),
    },
    "ContainerStatus": {
        1: ("name", "*string"),
        2: ("state", "ContainerState"),
        3: ("lastState", "ContainerState"),
        4: ("ready", "*bool"),
        5: ("restartCount", "*int32"),
        6: ("image", "*string"),
        7: ("imageID", "*string"),
        8: ("containerID", "string"),
        9: ("started", "*bool"),
    },
    "ContainerState": {
        1: ("waiting", "ContainerStateWaiting"),
        2: ("running", "ContainerStateRunning"),
        3: ("terminated", "ContainerStateTerminated"),
    },
    "ContainerStateWaiting": {1: ("reason", "string"), 2: ("message", "string")},
    "ContainerStateRunning": {1: ("startedAt", "Time")},
    "ContainerStateTerminated": {
        1: ("exitCode", "*int32"),
        2: ("signal", "int32"),
        3: ("reason", "string"),
        4: ("message", "string"),
        5: ("startedAt", "Time"),
        6: ("finishedAt", "Time"),
        7: ("containerID", "string"),
    },
}

_APPS = {
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec"), 3: ("status", "DeploymentStatus")},
    "DeploymentSpec": {
        1: ("replicas", "*int32"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
        4: ("strategy", "DeploymentStrategy"),
        5: ("minReadySeconds", "int32"),
        6: ("revisionHistoryLimit", "*int32"),
        7: ("paused", "bool"),
        9: ("progressDeadlineSeconds", "*int32"),
        10: ("podReplacementPolicy", "*string"),
    },
    "DeploymentStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "IntOrString"), 2: ("maxSurge", "IntOrString")},
    "DeploymentStatus": {
        1: ("observedGeneration", "int64"),
        2: ("replicas", "int32"),
        3: ("updatedReplicas", "int32"),
        7: ("readyReplicas", "int32"),
        4: ("availableReplicas", "int32"),
        5: ("unavailableReplicas", "int32"),
        9: ("terminatingReplicas", "*int32"),
        6: ("conditions", "[]DeploymentCondition"),
        8: ("collisionCount", "*int32"),
    },
    "DeploymentCondition": {
        1: ("type", "*string"),
        2: ("status", "*string"),
        6: ("lastUpdateTime", "Time"),
        7: ("lastTransitionTime", "Time"),
        4: ("reason", "string"),
        5: ("message", "string"),
    },
    "ReplicaSet": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ReplicaSetSpec"), 3: ("status", "ReplicaSetStatus")},
    "ReplicaSetSpec": {
        1: ("replicas", "*int32"),
        4: ("minReadySeconds", "int32"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
    },
    "ReplicaSetStatus": {
        1: ("replicas", "*int32"),
        2: ("fullyLabeledReplicas", "int32"),
        4: ("readyReplicas", "int32"),
        5: ("availableReplicas", "int32"),
        7: ("terminatingReplicas", "*int32"),
        3: ("observedGeneration", "int64"),
        6: ("conditions", "[]WorkloadCondition"),
    },
    # ReplicaSet, StatefulSet and DaemonSet conditions share this field layout.
    "WorkloadCondition": {
        1: ("type", "*string"),
        2: ("status", "*string"),
        3: ("lastTransitionTime", "Time"),
        4: ("reason", "string"),
        5: ("message", "string"),
    },
    "StatefulSet": {1: ("metadata", "ObjectMeta"), 2: ("spec", "StatefulSetSpec"), 3: ("status", "StatefulSetStatus")},
    "StatefulSetSpec": {
        1: ("replicas", "*int32"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
        4: ("volumeClaimTemplates", "[]PersistentVolumeClaim"),
        5: ("serviceName", "string"),
        6: ("podManagementPolicy", "string"),
        7: ("updateStrategy", "StatefulSetUpdateStrategy"),
        8: ("revisionHistoryLimit", "*int32"),
        9: ("minReadySeconds", "int32"),
        10: ("persistentVolumeClaimRetentionPolicy", "StatefulSetPersistentVolumeClaimRetentionPolicy"),
        11: ("ordinals", "StatefulSetOrdinals"),
    },
    "StatefulSetUpdateStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdateStatefulSetStrategy")},
    "RollingUpdateStatefulSetStrategy": {1: ("partition", "*int32"), 2: ("maxUnavailable", "IntOrString")},
    "StatefulSetPersistentVolumeClaimRetentionPolicy": {1: ("whenDeleted", "string"), 2: ("whenScaled", "string")},
    "StatefulSetOrdinals": {1: ("start", "int32")},
    "StatefulSetStatus": {
        1: ("observedGeneration", "int64"),
        2: ("replicas", "*int32"),
        3: ("readyReplicas", "int32"),
        4: ("currentReplicas", "int32"),
        5: ("updatedReplicas", "int32"),
        6: ("currentRevision", "string"),
        7: ("updateRevision", "string"),
        9: ("collisionCount", "*int32"),
        10: ("conditions", "[]WorkloadCondition"),
        11: ("availableReplicas", "*int32"),
    },
    "DaemonSet": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DaemonSetSpec"), 3: ("status", "DaemonSetStatus")},
    "DaemonSetSpec": {
        1: ("selector", "LabelSelector"),
        2: ("template", "PodTemplateSpec"),
        3: ("updateStrategy", "DaemonSetUpdateStrategy"),
        4: ("minReadySeconds", "int32"),
        6: ("revisionHistoryLimit", "*int32"),
    },
    "DaemonSetUpdateStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdateDaemonSet")},
    "RollingUpdateDaemonSet": {1: ("maxUnavailable", "IntOrString"), 2: ("maxSurge", "IntOrString")},
    "DaemonSetStatus": {
        1: ("currentNumberScheduled", "*int32"),
        2: ("numberMisscheduled", "*int32"),
        3: ("desiredNumberScheduled", "*int32"),
        4: ("numberReady", "*int32"),
        5: ("observedGeneration", "int64"),
        6: ("updatedNumberScheduled", "int32"),
        7: ("numberAvailable", "int32"),
        8: ("numberUnavailable", "int32"),
        9: ("collisionCount", "*int32"),
        10: ("conditions", "[]WorkloadCondition"),
    },
}

_BATCH_POLICY = {
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec"), 3: ("status", "JobStatus")},
    "JobSpec": {
        1: ("parallelism", "*int32"),
        2: ("completions", "*int32"),
        3: ("activeDeadlineSeconds", "*int64"),
        7: ("backoffLimit", "*int32"),
        12: ("backoffLimitPerIndex", "*int32"),
        13: ("maxFailedIndexes", "*int32"),
        4: ("selector", "LabelSelector"),
        5: ("manualSelector", "*bool"),
        6: ("template", "PodTemplateSpec"),
        8: ("ttlSecondsAfterFinished", "*int32"),
        9: ("completionMode", "*string"),
        10: ("suspend", "*bool"),
        14: ("podReplacementPolicy", "*string"),
        15: ("managedBy", "*string"),
    },
    "JobStatus": {
        1: ("conditions", "[]JobCondition"),
        2: ("startTime", "Time"),
        3: ("completionTime", "Time"),
        4: ("active", "int32"),
        5: ("succeeded", "int32"),
        6: ("failed", "int32"),
        11: ("terminating", "*int32"),
        7: ("completedIndexes", "string"),
        10: ("failedIndexes", "*string"),
        9: ("ready", "*int32"),
    },
    "JobCondition": {
        1: ("type", "*string"),
        2: ("status", "*string"),
        3: ("lastProbeTime", "Time"),
        4: ("lastTransitionTime", "Time"),
        5: ("reason", "string"),
        6: ("message", "string"),
    },
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    "CronJob": {1: ("metadata", "ObjectMeta"), 2: ("spec", "CronJobSpec"), 3: ("status", "CronJobStatus")},
    "CronJobSpec": {
        1: ("schedule", "*string"),
        8: ("timeZone", "*string"),
        2: ("startingDeadlineSeconds", "*int64"),
        3: ("concurrencyPolicy", "string"),
        4: ("suspend", "*bool"),
        5: ("jobTemplate", "JobTemplateSpec"),
        6: ("successfulJobsHistoryLimit", "*int32"),
        7: ("failedJobsHistoryLimit", "*int32"),
    },
    "CronJobStatus": {
        1: ("active", "[]ObjectReference"),
        4: ("lastScheduleTime", "Time"),
        5: ("lastSuccessfulTime", "Time"),
    },
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "PodDisruptionBudget": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "PodDisruptionBudgetSpec"),
        3: ("status", "PodDisruptionBudgetStatus"),
    },
    "PodDisruptionBudgetSpec": {
        1: ("minAvailable", "IntOrString"),
        2: ("selector", "LabelSelector"),
        3: ("maxUnavailable", "IntOrString"),
        4: ("unhealthyPodEvictionPolicy", "*string"),
    },
    "PodDisruptionBudgetStatus": {
        1: ("observedGeneration", "int64"),
        2: ("disruptedPods", "map[string]Time"),
        3: ("disruptionsAllowed", "*int32"),
        4: ("currentHealthy", "*int32"),
        5: ("desiredHealthy", "*int32"),
        6: ("expectedPods", "*int32"),
        7: ("conditions", "[]Condition"),
    },
}

# rbac.authorization.k8s.io, authorization.k8s.io and authentication.k8s.io v1: what `kubectl create role|
# rolebinding|clusterrole|clusterrolebinding|token` and `kubectl auth can-i|whoami` send.
_ACCESS = {
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[]PolicyRule")},
    "ClusterRole": {
        1: ("metadata", "ObjectMeta"),
        2: ("rules", "[]PolicyRule"),
        3: ("aggregationRule", "AggregationRule"),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "[]LabelSelector")},
    "PolicyRule": {
        1: ("verbs", "[]string"),
        2: ("apiGroups", "[]string"),
        3: ("resources", "[]string"),
        4: ("resourceNames", "[]string"),
        5: ("nonResourceURLs", "[]string"),
    },
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "[]Subject"), 3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", "*string"), 2: ("apiGroup", "string"), 3: ("name", "*string"), 4: ("namespace", "string")},
    "RoleRef": {1: ("apiGroup", "*string"), 2: ("kind", "*string"), 3: ("name", "*string")},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes"),
        2: ("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", "string"),
        2: ("verb", "string"),
        3: ("group", "string"),
        4: ("version", "string"),
        5: ("resource", "string"),
        6: ("subresource", "string"),
        7: ("name", "string"),
    },
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {
        1: ("audiences", "[]string"),
        4: ("expirationSeconds", "*int64"),
        3: ("boundObjectRef", "BoundObjectReference"),
    },
    "BoundObjectReference": {1: ("kind", "string"), 2: ("apiVersion", "string"), 3: ("name", "string"),
                             4: ("uid", "string")},
}

SCHEMAS: dict[str, dict[int, Field]] = {**_META, **_CORE_OBJECTS, **_POD, **_APPS, **_BATCH_POLICY, **_ACCESS}

# (apiVersion, kind) of a top-level body → its message in SCHEMAS.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("v1", "Binding"): "Binding",
    ("v1", "PersistentVolumeClaim"): "PersistentVolumeClaim",
    ("v1", "DeleteOptions"): "DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions",
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "ReplicaSet"): "ReplicaSet",
    ("apps/v1", "StatefulSet"): "StatefulSet",
    ("apps/v1", "DaemonSet"): "DaemonSet",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("policy/v1", "Eviction"): "Eviction",
    ("policy/v1beta1", "Eviction"): "Eviction",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
}

_SCALARS = {"string", "int32", "int64", "bool", "bytes"}
_ZEROS: dict[str, Any] = {"string": "", "int32": 0, "int64": 0, "bool": False, "bytes": ""}
# Kinds with a JSON form of their own instead of an object (see _special).
_SPECIAL = {"Time", "IntOrString", "Quantity"}


def is_protobuf(content_type: str | None) -> bool:
    """True for `application/vnd.kubernetes.protobuf` (parameters such as `;charset` ignored)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == CONTENT_TYPE


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body holds, as the dict its JSON form would parse to."""
    if not body.startswith(MAGIC):
        raise _malformed("missing the k8s protobuf magic prefix")
    envelope: dict[int, Any] = {}
    for number, wire, value in _fields(body[len(MAGIC) :]):
        if number in (1, 2, 3, 4):
            _expect(wire, LENGTH, number)
            envelope[number] = value
    api_version, kind = "", ""
    for number, wire, value in _fields(envelope.get(1, b"")):
        if number in (1, 2):
            _expect(wire, LENGTH, number)
            text = _text(value)
            api_version, kind = (text, kind) if number == 1 else (api_version, text)
    encoding = _text(envelope.get(3, b""))
    if encoding:
        raise _malformed(f"unsupported contentEncoding {encoding!r}")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise StatusError(400, f"no protobuf schema for {api_version}/{kind}; send application/json", "BadRequest")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(_message(message, envelope.get(2, b"")))
    return obj


# --- wire format ---


def _malformed(why: str) -> StatusError:
    return StatusError(400, f"unable to decode protobuf body: {why}", "BadRequest")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise _malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _malformed("varint longer than 10 bytes")


def _take(buf: bytes, pos: int, size: int) -> tuple[bytes, int]:
    if size < 0 or pos + size > len(buf):
        raise _malformed("truncated field")
    return buf[pos : pos + size], pos + size


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field; groups are consumed and yielded as None."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _malformed("field number 0")
        value, pos = _value(buf, pos, number, wire)
        yield number, wire, value


def _value(buf: bytes, pos: int, number: int, wire: int) -> tuple[Any, int]:
    if wire == VARINT:
        return _varint(buf, pos)
    if wire == FIXED64:
        raw, pos = _take(buf, pos, 8)
        return int.from_bytes(raw, "little"), pos
    if wire == LENGTH:
        size, pos = _varint(buf, pos)
        return _take(buf, pos, size)
    if wire == FIXED32:
        raw, pos = _take(buf, pos, 4)
        return int.from_bytes(raw, "little"), pos
    if wire == START_GROUP:  # deprecated proto2 groups: nothing Kubernetes sends, but skip them safely
        while True:
            if pos >= len(buf):
                raise _malformed("unterminated group")
            key, pos = _varint(buf, pos)
            if key & 7 == END_GROUP:
                if key >> 3 != number:
                    raise _malformed("mismatched end of group")
                return None, pos
            _, pos = _value(buf, pos, key >> 3, key & 7)
    raise _malformed(f"invalid wire type {wire} for field {number}")


def _expect(wire: int, wanted: int, number: int) -> None:
    if wire != wanted:
        raise _malformed(f"field {number} has wire type {wire}, expected {wanted}")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("string field is not valid UTF-8") from None


def _signed(value: int, bits: int) -> int:
    # Go writes negative int32/int64 as 64-bit two's complement varints.
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# --- schema-driven decoding ---


@functools.cache
def _parse_type(spec: str) -> tuple[str, str, bool]:
    """`"*int32"` → ("scalar", "int32", keep_zero); also "repeated", "map", "inline", "message"."""
    if spec.startswith("[]"):
        return "repeated", spec[2:], True
    if spec.startswith("map[string]"):
        return "map", spec[len("map[string]") :], True
    if spec.startswith("inline:"):
        return "inline", spec[len("inline:") :], True
    keep = spec.startswith("*")
    name = spec.lstrip("*")
    return ("scalar" if name in _SCALARS else "message"), name, keep


def _scalar(kind: str, wire: int, value: Any, number: int) -> Any:
    if kind in ("string", "bytes"):
        _expect(wire, LENGTH, number)
        return _text(value) if kind == "string" else base64.b64encode(value).decode("ascii")
    _expect(wire, VARINT, number)
    if kind == "bool":
        return value != 0
    return _signed(value, 32 if kind == "int32" else 64)


def _element(kind: str, wire: int, value: Any, number: int) -> Any:
    if kind in _SCALARS:
        return _scalar(kind, wire, value, number)
    _expect(wire, LENGTH, number)
    return _message(kind, value)


def _message(name: str, buf: bytes) -> Any:
    if name in _SPECIAL:
        return _special(name, buf)
    schema = SCHEMAS[name]
    out: dict[str, Any] = {}
    for number, wire, value in _fields(buf):
        field = schema.get(number)
        if field is None:
            continue  # a field newer than our schema, or one we chose not to model
        json_name, spec = field
        shape, kind, keep = _parse_type(spec)
        if shape == "repeated":
            out.setdefault(json_name, []).extend(_repeated(kind, wire, value, number))
        elif shape == "map":
            _expect(wire, LENGTH, number)
            key, item = _map_entry(kind, value)
            out.setdefault(json_name, {})[key] = item
        elif shape == "inline":
            _expect(wire, LENGTH, number)
            out.update(_message(kind, value))
        elif shape == "scalar":
            decoded = _scalar(kind, wire, value, number)
            if keep or decoded != _ZEROS[kind]:
                out[json_name] = decoded
            else:
                out.pop(json_name, None)  # a later zero overrides an earlier value, as in proto
        else:
            _expect(wire, LENGTH, number)
            decoded = _message(kind, value)
            if decoded is None:
                out.pop(json_name, None)
            else:
                out[json_name] = decoded
    return out


def _repeated(kind: str, wire: int, value: Any, number: int) -> list[Any]:
    if kind in ("int32", "int64", "bool") and wire == LENGTH:  # packed encoding
        items, pos = [], 0
        while pos < len(value):
            item, pos = _varint(value, pos)
            items.append(_scalar(kind, VARINT, item, number))
        return items
    return [_element(kind, wire, value, number)]


def _map_entry(kind: str, buf: bytes) -> tuple[str, Any]:
    key, item = "", None
    for number, wire, value in _fields(buf):
        if number == 1:
            key = _scalar("string", wire, value, number)
        elif number == 2:
            item = _element(kind, wire, value, number)
    if item is None:  # Go always writes both; an absent value is the type's zero
        item = _ZEROS.get(kind) if kind in _SCALARS else _message(kind, b"")
    return key, item


def _special(name: str, buf: bytes) -> Any:
    parts: dict[int, Any] = {}
    for number, wire, value in _fields(buf):
        parts[number] = (wire, value)

    def scalar(number: int, kind: str) -> Any:
        if number not in parts:
            return _ZEROS[kind]
        wire, value = parts[number]
        return _scalar(kind, wire, value, number)

    if name == "Quantity":  # resource.Quantity {1: string}
        return scalar(1, "string") or "0"
    if name == "IntOrString":  # {1: type (0 int, 1 string), 2: intVal, 3: strVal}
        return scalar(3, "string") if scalar(1, "int64") == 1 else scalar(2, "int32")
    return _time(scalar(1, "int64"), scalar(2, "int32"))  # metav1.Time {1: seconds, 2: nanos}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's time.Time{}


def _time(seconds: int, nanos: int) -> str | None:
    # Go marshals a zero Time as an empty message and as JSON null; JSON keeps whole seconds only.
    if (seconds == 0 and nanos == 0) or seconds == _GO_ZERO_TIME:
        return None
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise _malformed("timestamp out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
