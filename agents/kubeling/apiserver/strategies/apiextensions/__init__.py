"""Strategies of the apiextensions.k8s.io group: CustomResourceDefinitions (upstream's
`apiextensions-apiserver/pkg/registry/customresourcedefinition/`) and the one generic strategy every custom
resource is served with (`.../pkg/registry/customresource/`)."""
