// bench-client latency: the latency probe of bench/scale.sh: how long after
// an accepted spec.image patch of a breakwater Service the operator's
// Deployment carries the image, against how long a plain watch of the
// Services takes to deliver the same change (the floor any watch-driven
// operator stands on).
//
// One edit at a time. Before each patch, two watches are opened on the one
// object each (field selector metadata.name, from the resourceVersion of a
// LIST of it): the Service and its Deployment. Only that object's events
// come, so the probe never falls behind a stream of the namespace's other
// Deployments rolling out (a namespace-wide watch did, by hundreds of
// milliseconds on the loaded machine). Then the patch is sent, its response
// time taken, and both watches awaited until each shows the new image.
// Delays are measured from the patch response, so a watch event that comes
// before the response counts as a negative delay.
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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

var (
	servicesGVR    = schema.GroupVersionResource{Group: "breakwater.io", Version: "v1alpha1", Resource: "services"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

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

// watchOne: a watch of the one object NAME, from the version a LIST of it saw.
func watchOne(ctx context.Context, ri dynamic.ResourceInterface, name string) (watch.Interface, error) {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	l, err := ri.List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, err
	}
	return ri.Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: l.GetResourceVersion()})
}

// awaitImage sends on OUT the arrival time of the first event of W whose
// object carries IMAGE; nothing if W ends first.
func awaitImage(w watch.Interface, deployment bool, image string, out chan<- time.Time) {
	for ev := range w.ResultChan() {
		at := time.Now()
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
			continue
		}
		for _, im := range images(u, deployment) {
			if im == image {
				out <- at
				return
			}
		}
	}
}

// editOnce patches NAME's spec.image to IMAGE; returns the delays from the
// patch response to the Deployment's and the Service's watch showing it.
func editOnce(svcs, deps dynamic.ResourceInterface, name, image string, timeout time.Duration) (dep, svc time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := [2]chan time.Time{make(chan time.Time, 1), make(chan time.Time, 1)}
	for i, ri := range []dynamic.ResourceInterface{svcs, deps} {
		w, err := watchOne(ctx, ri, name)
		if err != nil {
			return 0, 0, err
		}
		defer w.Stop()
		go awaitImage(w, i == 1, image, seen[i])
	}
	patch := fmt.Sprintf(`{"spec":{"image":%q}}`, image)
	if _, err := svcs.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return 0, 0, err
	}
	accepted := time.Now()
	var at [2]time.Time
	for i := range seen {
		select {
		case at[i] = <-seen[i]:
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("%s: %s not seen within %v", name, image, timeout)
		}
	}
	return at[1].Sub(accepted), at[0].Sub(accepted), nil
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

	var depDelays, watchDelays []float64
	missed := 0
	for k := 0; k < *edits; k++ {
		name := fmt.Sprintf("svc-%d", k%*n+1)
		image := fmt.Sprintf("registry.local/bench/%s:%s-%d", name, *tag, k)
		dep, svc, err := editOnce(svcs, deps, name, image, *timeout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-client: latency:", err)
			missed++
			continue
		}
		depDelays = append(depDelays, ms(dep))
		watchDelays = append(watchDelays, ms(svc))
	}
	fmt.Printf("edits\t%d\nmissed\t%d\n", *edits, missed)
	fmt.Printf("deployment_p50_ms\t%.3f\ndeployment_p99_ms\t%.3f\n", percentile(depDelays, 0.5), percentile(depDelays, 0.99))
	fmt.Printf("watch_p50_ms\t%.3f\nwatch_p99_ms\t%.3f\n", percentile(watchDelays, 0.5), percentile(watchDelays, 0.99))
	if missed > 0 {
		return 1
	}
	return 0
}
