// bench-client: the client side of bench/scale.sh, in Go so that it is not
// the limit (kubectl sends about 5 requests a second, its client-side rate
// limit: 2,000 objects took it minutes).
//
//	bench-client apply --file F [--workers 8]     server-side apply of every object in F
//	bench-client latency --namespace NS --services N [--edits 500] [--tag T]
//	bench-client wait --namespace NS --kind deployments|services --count N --tag T
package main

import (
	"fmt"
	"os"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// dynamicClient: a client for KUBECONFIG without a client-side rate limit
// (the API server's priority and fairness instead, as controller-runtime's
// default).
func dynamicClient(kubeconfig string) (*dynamic.DynamicClient, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, -1
	return dynamic.NewForConfig(cfg)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench-client apply|latency|wait [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "apply":
		os.Exit(apply(os.Args[2:]))
	case "latency":
		os.Exit(latency(os.Args[2:]))
	case "wait":
		os.Exit(waitConverged(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "bench-client: unknown command %q (apply, latency, wait)\n", os.Args[1])
		os.Exit(2)
	}
}
