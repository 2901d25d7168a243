#!/usr/bin/env bash
# The cluster install keeps /metrics (no authentication) inside the pod:
# bound to 127.0.0.1, with no Service in front of it, while /healthz and
# /readyz listen on the pod IP for the kubelet's probes. The metrics
# component serves it on the pod IP instead, behind a Service and a
# NetworkPolicy that the real API server accepts.
. "$(dirname "$0")/../lib.sh"

use_namespace metrics
work=$(mktemp -d)
trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1; rm -rf "$work"' EXIT

# render DIR: the kustomization in DIR as one JSON List
render() { kubectl kustomize "$1" | kubectl create --dry-run=client -o json -f - | jq -s '{items: [.[] | .items? // . ]}'; }
# args JSON: the breakwater container's args, one line
args() { jq -r '.items[] | select(.kind == "Deployment") | .spec.template.spec.containers[0].args | join(" ")' <<<"$1"; }
# last_flag JSON FLAG: the value the last FLAG=... argument gives (the one that wins)
last_flag() { jq -r --arg f "$2=" '[.items[] | select(.kind == "Deployment") | .spec.template.spec.containers[0].args[] | select(startswith($f)) | ltrimstr($f)] | last' <<<"$1"; }

base=$(render "$top/manifests/base")
check_eq "the base renders, with one Deployment" 1 \
	"$(jq '[.items[] | select(.kind == "Deployment")] | length' <<<"$base" 2>&1)"
check_eq "the base binds /metrics to 127.0.0.1 in the pod" "127.0.0.1:8080" \
	"$(last_flag "$base" --metrics-bind-address)"
check_eq "and health to every interface, for the kubelet's probes" ":8081" \
	"$(last_flag "$base" --health-probe-bind-address)"
check_eq "the probes use that port" "health health" \
	"$(jq -r '.items[] | select(.kind == "Deployment") | .spec.template.spec.containers[0] | "\(.readinessProbe.httpGet.port) \(.livenessProbe.httpGet.port)"' <<<"$base")"
check_eq "no container port and no Service expose /metrics" "" \
	"$(jq -r '.items[] | (select(.kind == "Deployment") | .spec.template.spec.containers[0].ports[] | select(.containerPort == 8080) | "port"), (select(.kind == "Service") | .spec.ports[] | select(.port == 8080 or .targetPort == "metrics") | "service")' <<<"$base")"

local_render=$(render "$top/manifests/local")
check_eq "so does the local overlay" "127.0.0.1:8080" \
	"$(last_flag "$local_render" --metrics-bind-address)"

# an overlay as a user writes one: the base and the metrics component
rel=$(realpath --relative-to="$work" "$top/manifests")
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s/base]\ncomponents: [%s/components/metrics]\n' \
	"$rel" "$rel" >"$work/kustomization.yaml"
exposed=$(render "$work")
check_eq "with the metrics component, /metrics listens on the pod IP" ":8080" \
	"$(last_flag "$exposed" --metrics-bind-address)"
check_eq "behind a Service in breakwater-system" "breakwater-system 8080 metrics" \
	"$(jq -r '.items[] | select(.kind == "Service" and .metadata.name == "breakwater-metrics") | "\(.metadata.namespace) \(.spec.ports[0].port) \(.spec.ports[0].targetPort)"' <<<"$exposed")"
check_eq "and a NetworkPolicy that opens it to labelled namespaces only" \
	"9443,8081 8080:breakwater.io/metrics-scraper=true" \
	"$(jq -r '.items[] | select(.kind == "NetworkPolicy") | .spec.ingress | "\(.[0].ports | map(.port | tostring) | join(",")) \(.[1].ports[0].port):\(.[1].from[0].namespaceSelector.matchLabels | to_entries[0] | "\(.key)=\(.value)")"' <<<"$exposed")"
jq --arg ns "$ns" '{apiVersion: "v1", kind: "List", items: [.items[] |
	select(.kind == "NetworkPolicy" or (.kind == "Service" and .metadata.name == "breakwater-metrics")) |
	.metadata.namespace = $ns]}' <<<"$exposed" >"$work/exposed.json"
check "the real API server accepts the Service and the NetworkPolicy" \
	kubectl apply --dry-run=server -f "$work/exposed.json"
