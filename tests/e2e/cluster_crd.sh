#!/usr/bin/env bash
# CustomResourceDefinitions are served: one is applied, becomes Established,
# stores an object, rejects one that breaks its schema, and is deleted.
. "$(dirname "$0")/../lib.sh"

use_namespace crd
crd=widgets.test.breakwater.io
trap 'kubectl delete crd $crd --ignore-not-found >/dev/null 2>&1; kubectl delete namespace $ns --wait=false >/dev/null 2>&1' EXIT

cat <<EOF2 | kubectl apply -f - >/dev/null
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: $crd}
spec:
  group: test.breakwater.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
          status:
            type: object
            properties:
              seen: {type: boolean}
EOF2
check "the CRD becomes Established" kubectl wait --for=condition=Established crd/$crd --timeout=30s

widget='{"apiVersion":"test.breakwater.io/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":3}}'
check "an object of the new kind is created" eventually 10 bash -c "echo '$widget' | \"$state/bin/kubectl\" -n $ns apply -f -"
check_eq "it is read back through its short name" 3 "$(kubectl -n "$ns" get wdg w1 -o jsonpath='{.spec.size}')"

out=$(kubectl -n "$ns" apply -f - 2>&1 <<EOF2
apiVersion: test.breakwater.io/v1
kind: Widget
metadata: {name: w2}
spec: {size: 99}
EOF2
)
check "an object breaking the schema is refused, naming the field" grep -q 'spec.size' <<<"$out"

check "the status subresource is served" kubectl -n "$ns" patch widget w1 --subresource=status --type=merge -p '{"status":{"seen":true}}'
check_eq "the status is stored" true "$(kubectl -n "$ns" get widget w1 -o jsonpath='{.status.seen}')"
check "the CRD is deleted" kubectl delete crd $crd --timeout=30s
