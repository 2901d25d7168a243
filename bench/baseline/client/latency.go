// bench-client latency: the latency probe of bench/scale.sh: how long after an accepted spec.image
// patch of a breakwater Service the operator's Deployment carries the image,
// against how long a plain watch of the Services takes to deliver the same
// change (the floor any watch-driven operator stands on).
//
// One edit at a time: the patch is sent, its response time taken, then two
// watches (Services and Deployments of the namespace, started before the
// first edit at the lists' resourceVersions) are awaited until each shows the
// new image. Delays are measured from the patch response, so a watch event
// that arrives before the response counts as a negative delay.
//
//	bench-client latency --namespace NS --services N [--edits 500] [--tag T]
//
// Prints "name<TAB>value" lines: edits, missed, and the p50/p99 of both delays in ms.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

var (
	servicesGVR    = schema.GroupVersionResource{Group: "breakwater.io", Version: "v1alpha1", Resource: "services"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// edit is one patch in flight: the image awaited and when each watch showed it.
type edit struct {
	name, image    string
	serviceSeen    time.Time
	deploymentSeen time.Time
	done           chan struct{}
}

type tracker struct {
	mu      sync.Mutex
	pending *edit
}

// saw records that a watch delivered NAME carrying IMAGE at time AT.
func (t *tracker) saw(deployment bool, name string, images []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.pending
	if e == nil || e.name != name {
		return
	}
	match := false
	for _, im := range images {
		match = match || im == e.image
	}
	if !match {
		return
	}
	if deployment && e.deploymentSeen.IsZero() {
		e.deploymentSeen = at
	} else if !deployment && e.serviceSeen.IsZero() {
		e.serviceSeen = at
	} else {
		return
	}
	if !e.deploymentSeen.IsZero() && !e.serviceSeen.IsZero() {
		close(e.done)
	}
}

func images(u *unstructured.Unstructured, deployment bool) []string {
	if !deployment {
		im, _, _ := unstructured.NestedString(u.Object, "spec", "image")
		return []string{im}
	}
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	var out []string
	for _, c := range cs {
		if m, ok := c.(map[string]interface{}); ok {
			im, _ := m["image"].(string)
			out = append(out, im)
		}
	}
	return out
}

// follow watches one resource of the namespace from RV until ctx ends,
// starting again from the last version seen when the server closes the watch.
func follow(ctx context.Context, ri dynamic.ResourceInterface, rv string, deployment bool, t *tracker) {
	for ctx.Err() == nil {
		w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-client: watch: %v\n", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			at := time.Now()
			if ev.Type == watch.Error { // e.g. 410 Gone: start again from now
				w.Stop()
				if v, err := listVersion(ctx, ri); err == nil {
					rv = v
				}
				break
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			rv = u.GetResourceVersion()
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				t.saw(deployment, u.GetName(), images(u, deployment), at)
			}
		}
	}
}

func listVersion(ctx context.Context, ri dynamic.ResourceInterface) (string, error) {
	l, err := ri.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", err
	}
	return l.GetResourceVersion(), nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	i := int(math.Ceil(p*float64(len(v)))) - 1
	if i < 0 {
		i = 0
	}
	return v[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latency(args []string) int {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	ns := fs.String("namespace", "", "namespace of the Services")
	n := fs.Int("services", 0, "Services svc-1..svc-N exist")
	edits := fs.Int("edits", 500, "edits, one at a time, round robin over the Services")
	tag := fs.String("tag", "lat", "image tag prefix, unique per run")
	timeout := fs.Duration("timeout", 30*time.Second, "wait per edit before it counts as missed")
	_ = fs.Parse(args)
	if *ns == "" || *n <= 0 {
		fmt.Fprintln(os.Stderr, "usage: bench-client latency --namespace NS --services N [--edits E] [--tag T]")
		return 2
	}
	dyn, err := dynamicClient(*kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-client:", err)
		return 1
	}
	svcs := dyn.Resource(servicesGVR).Namespace(*ns)
	deps := dyn.Resource(deploymentsGVR).Namespace(*ns)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t := &tracker{}
	for _, w := range []struct {
		ri         dynamic.ResourceInterface
		deployment bool
	}{{svcs, false}, {deps, true}} {
		rv, err := listVersion(ctx, w.ri)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-client: list:", err)
			return 1
		}
		go follow(ctx, w.ri, rv, w.deployment, t)
	}
	time.Sleep(200 * time.Millisecond) // both watches established

	var depDelays, watchDelays []float64
	missed := 0
	for k := 0; k < *edits; k++ {
		name := fmt.Sprintf("svc-%d", k%*n+1)
		e := &edit{name: name, image: fmt.Sprintf("registry.local/bench/%s:%s-%d", name, *tag, k),
			done: make(chan struct{})}
		t.mu.Lock()
		t.pending = e // before the patch: its event may come before the response
		t.mu.Unlock()
		patch := fmt.Sprintf(`{"spec":{"image":%q}}`, e.image)
		if _, err := svcs.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			fmt.Fprintf(os.Stderr, "bench-client: patch %s: %v\n", name, err)
			missed++
			continue
		}
		accepted := time.Now()
		select {
		case <-e.done:
		case <-time.After(*timeout):
		}
		t.mu.Lock()
		t.pending = nil
		if e.deploymentSeen.IsZero() || e.serviceSeen.IsZero() {
			missed++
		} else {
			depDelays = append(depDelays, ms(e.deploymentSeen.Sub(accepted)))
			watchDelays = append(watchDelays, ms(e.serviceSeen.Sub(accepted)))
		}
		t.mu.Unlock()
	}
	fmt.Printf("edits\t%d\nmissed\t%d\n", *edits, missed)
	fmt.Printf("deployment_p50_ms\t%.3f\ndeployment_p99_ms\t%.3f\n", percentile(depDelays, 0.5), percentile(depDelays, 0.99))
	fmt.Printf("watch_p50_ms\t%.3f\nwatch_p99_ms\t%.3f\n", percentile(watchDelays, 0.5), percentile(watchDelays, 0.99))
	if missed > 0 {
		return 1
	}
	return 0
}
