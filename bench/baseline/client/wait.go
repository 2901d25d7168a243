// bench-client wait: blocks until all N objects of a namespace are
// converged, seen by one list and then a watch, and prints the seconds it
// waited. bench/scale.sh polled with `kubectl get` and jq instead: at
// 10,000 Services each poll was a LIST of seconds of the API server's CPU
// and a kubectl of its own, on the 2 cores the convergence being timed
// runs on, and the end was seen up to one poll late.
//
//	bench-client wait --namespace NS --kind deployments|services --count N --tag T [--timeout 1h]
//
// Converged, as the jq of the polls said it:
//   - deployments: observed at their generation, the first container's image
//     ending in ":T", every replica updated and available, no other left;
//   - services (breakwater.io): status.observedGeneration the generation,
//     spec.image and status.image ending in ":T", a Ready condition True at
//     that generation.
//
// A watch that ends (a timeout, a 410) is followed by a new list, from which
// the count starts again: nothing is missed and nothing counted twice.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

func nestedInt(u *unstructured.Unstructured, path ...string) int64 {
	v, _, _ := unstructured.NestedInt64(u.Object, path...)
	return v
}

func nestedString(u *unstructured.Unstructured, path ...string) string {
	v, _, _ := unstructured.NestedString(u.Object, path...)
	return v
}

func deploymentConverged(u *unstructured.Unstructured, tag string) bool {
	replicas := nestedInt(u, "spec", "replicas")
	ims := images(u, true)
	return nestedInt(u, "status", "observedGeneration") == u.GetGeneration() &&
		len(ims) > 0 && strings.HasSuffix(ims[0], ":"+tag) &&
		nestedInt(u, "status", "updatedReplicas") == replicas &&
		nestedInt(u, "status", "availableReplicas") == replicas &&
		nestedInt(u, "status", "replicas") == replicas
}

func serviceConverged(u *unstructured.Unstructured, tag string) bool {
	gen := u.GetGeneration()
	if nestedInt(u, "status", "observedGeneration") != gen ||
		!strings.HasSuffix(nestedString(u, "status", "image"), ":"+tag) ||
		!strings.HasSuffix(nestedString(u, "spec", "image"), ":"+tag) {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]interface{})
		if !ok || m["type"] != "Ready" || m["status"] != "True" {
			continue
		}
		if g, ok := m["observedGeneration"].(int64); ok && g == gen {
			return true
		}
	}
	return false
}

// tally: which objects are converged, and how many.
type tally struct {
	done map[string]bool
	n    int
}

func (t *tally) set(name string, ok bool) {
	if t.done[name] != ok {
		if ok {
			t.n++
		} else {
			t.n--
		}
	}
	if ok {
		t.done[name] = true
	} else {
		delete(t.done, name)
	}
}

// listAll: every object of RI, in pages of 500 as kubectl asks; the tally
// from them, and the list's resourceVersion to watch from.
func listAll(ctx context.Context, ri dynamic.ResourceInterface, converged func(*unstructured.Unstructured) bool) (*tally, string, error) {
	t := &tally{done: map[string]bool{}}
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := ri.List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			t.set(l.Items[i].GetName(), converged(&l.Items[i]))
		}
		if l.GetContinue() == "" {
			return t, l.GetResourceVersion(), nil
		}
		opts.Continue = l.GetContinue()
	}
}

// follow: applies RI's events from RV to T until COUNT are converged
// (true), or the watch ends (false: list again).
func follow(ctx context.Context, ri dynamic.ResourceInterface, rv string, t *tally, count int, converged func(*unstructured.Unstructured) bool) (bool, error) {
	w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		return false, err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		u, ok := ev.Object.(*unstructured.Unstructured)
		switch {
		case ev.Type == watch.Error:
			return false, nil
		case !ok || ev.Type == watch.Bookmark:
			continue
		case ev.Type == watch.Deleted:
			t.set(u.GetName(), false)
		default:
			t.set(u.GetName(), converged(u))
		}
		if t.n >= count {
			return true, nil
		}
	}
	return false, nil
}

func waitConverged(args []string) int {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	ns := fs.String("namespace", "", "namespace of the objects")
	kind := fs.String("kind", "", "deployments or services (breakwater.io)")
	count := fs.Int("count", 0, "objects that must be converged")
	tag := fs.String("tag", "", "the image tag they must run")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	_ = fs.Parse(args)
	var converged func(*unstructured.Unstructured) bool
	gvr := servicesGVR
	switch *kind {
	case "deployments":
		gvr = deploymentsGVR
		converged = func(u *unstructured.Unstructured) bool { return deploymentConverged(u, *tag) }
	case "services":
		converged = func(u *unstructured.Unstructured) bool { return serviceConverged(u, *tag) }
	}
	if *ns == "" || *count <= 0 || *tag == "" || converged == nil {
		fmt.Fprintln(os.Stderr, "usage: bench-client wait --namespace NS --kind deployments|services --count N --tag T [--timeout D]")
		return 2
	}
	dyn, err := dynamicClient(*kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-client:", err)
		return 1
	}
	ri := dyn.Resource(gvr).Namespace(*ns)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	for {
		t, rv, err := listAll(ctx, ri, converged)
		if err == nil && t.n < *count {
			var all bool
			if all, err = follow(ctx, ri, rv, t, *count, converged); err == nil && !all {
				continue
			}
		}
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "bench-client: wait: %d %s of %s not converged within %v\n", *count, *kind, *ns, *timeout)
			return 1
		}
		if err != nil { // the API server restarting: as a reflector would
			fmt.Fprintln(os.Stderr, "bench-client: wait:", err)
			time.Sleep(time.Second)
			continue
		}
		fmt.Printf("%.3f\n", time.Since(start).Seconds())
		return 0
	}
}
