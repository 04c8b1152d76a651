"""CustomResourceDefinitions (`apiextensions.k8s.io/v1`): what a CRD says, made into what the API server serves.

Upstream: staging/src/k8s.io/apiextensions-apiserver. Here, as pure logic shared by the API server and the
controller-manager:

- `names.py`: a CRD's served versions as `CustomResourceType`s (the resource types `api/resources.py` looks up);
- `schema.py`: the structural-schema rules, and what a schema does to a custom resource (validation with upstream's
  wording, defaulting, pruning of unknown fields);
- `validation.py`: the validation of a CRD itself (names, scope, versions, subresources, printer columns);
- `table.py`: a custom resource's server-side Table, from the CRD's additionalPrinterColumns.

The API server's side (the strategies, the controller that accepts names and establishes CRDs) is in
`kubeling/apiserver/apiextensions/`.
"""
