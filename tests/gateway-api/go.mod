// The Gateway API's CRDs for the tests: the module is only downloaded (its
// config/crd/standard/*.yaml), never built. install.sh applies them.
module breakwater.local/tests/gateway-api

go 1.22

require sigs.k8s.io/gateway-api v1.4.1
