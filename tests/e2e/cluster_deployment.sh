#!/usr/bin/env bash
# The control plane is real: versions, fake nodes, a Deployment that becomes
# available and scales, pods Running and Ready with IPs, and the documented
# "never-ready" image whose pods never become Ready.
. "$(dirname "$0")/../lib.sh"

use_namespace deploy

version=$(kubectl version -o json)
check_eq "kubectl reports its real version" v1.37.2 "$(jq -r .clientVersion.gitVersion <<<"$version")"
check_eq "the API server reports its real version" v1.37.2 "$(jq -r .serverVersion.gitVersion <<<"$version")"

ready=$(kubectl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)
check "at least one fake node is Ready" test "$ready" -ge 1

check "RBAC is on: an unbound service account may not list secrets" \
	bash -c "[ \"\$(\"$state/bin/kubectl\" auth can-i list secrets --as=system:serviceaccount:$ns:default -n $ns)\" = no ]"

kubectl -n "$ns" create deployment web --image=nginx:1.27 --replicas=3 >/dev/null
start=$SECONDS
check "a Deployment of 3 becomes Available within 30s" \
	kubectl -n "$ns" wait --for=condition=Available deployment/web --timeout=30s
check_eq "all 3 replicas are available" 3 \
	"$(kubectl -n "$ns" get deployment web -o jsonpath='{.status.availableReplicas}')"
echo "# available after $((SECONDS - start))s"

phase=$(kubectl -n "$ns" get pods -l app=web -o jsonpath='{.items[0].status.phase}')
check_eq "its pods are Running" Running "$phase"
ip=$(kubectl -n "$ns" get pods -l app=web -o jsonpath='{.items[0].status.podIP}')
check "its pods have an IP" test -n "$ip"

kubectl -n "$ns" scale deployment web --replicas=5 >/dev/null
check "scaling to 5 reaches 5 available replicas" eventually 30 \
	bash -c "[ \"\$(\"$state/bin/kubectl\" -n $ns get deployment web -o jsonpath='{.status.availableReplicas}')\" = 5 ]"
check_eq "5 pods are Running" 5 \
	"$(kubectl -n "$ns" get pods -l app=web --field-selector=status.phase=Running -o name | wc -l)"

kubectl -n "$ns" scale deployment web --replicas=1 >/dev/null
check "scaling down to 1 leaves 1 pod" eventually 30 \
	bash -c "[ \"\$(\"$state/bin/kubectl\" -n $ns get pods -l app=web -o name | wc -l)\" = 1 ]"

# An image containing "never-ready" runs but never becomes Ready (tests/cluster/kwok.yaml).
kubectl -n "$ns" create deployment stuck --image=registry.local/stuck:1.0-never-ready --replicas=2 >/dev/null
check "never-ready pods become Running" eventually 30 \
	bash -c "[ \"\$(\"$state/bin/kubectl\" -n $ns get pods -l app=stuck --field-selector=status.phase=Running -o name | wc -l)\" = 2 ]"
sleep 2
check_eq "never-ready pods stay not Ready" "False False" \
	"$(kubectl -n "$ns" get pods -l app=stuck -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status} {end}' | xargs)"
check_eq "the never-ready Deployment has no available replica" "" \
	"$(kubectl -n "$ns" get deployment stuck -o jsonpath='{.status.availableReplicas}')"

kubectl -n "$ns" set image deployment/web nginx=nginx:1.28 >/dev/null
check "a rolling update completes" kubectl -n "$ns" rollout status deployment/web --timeout=30s
