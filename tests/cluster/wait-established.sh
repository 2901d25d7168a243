#!/usr/bin/env bash
# wait-established.sh CRD...: waits (up to 60 s) until each CustomResourceDefinition
# is Established. `kubectl wait --for=condition=Established` alone is not
# enough right after `kubectl apply`: until the API server's CRD controller
# writes the first status, the object has no status.conditions, and kubectl
# wait then fails at once (".status.conditions accessor error: <nil> is of
# the type <nil>") instead of waiting; it did in CI, on a loaded machine. So
# the wait is tried again until it can wait. Uses $KUBECTL (default kubectl)
# and $KUBECONFIG.
set -u
kubectl=${KUBECTL:-kubectl}
deadline=$((SECONDS + 60))
crds=()
for crd in "$@"; do crds+=("crd/${crd#crd/}"); done
until out=$("$kubectl" wait --for=condition=Established "${crds[@]}" --timeout=60s 2>&1); do
	if [ $SECONDS -ge $deadline ]; then
		echo "$out" >&2
		exit 1
	fi
	sleep 0.2
done
