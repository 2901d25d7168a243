// bench-client apply: every object of a YAML stream, server-side applied
// (one PATCH each, field manager bench-scale, conflicts forced) by a few
// workers at once, as a user's CI job would send them. Only the kinds
// bench/scale.sh writes: the resource is the kind in lower case plus "s"
// (deployments, services).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]interface{}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

func applyOne(ctx context.Context, dyn dynamic.Interface, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	gvr := gvk.GroupVersion().WithResource(strings.ToLower(gvk.Kind) + "s")
	body, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	force := true
	_, err = dyn.Resource(gvr).Namespace(u.GetNamespace()).Patch(ctx, u.GetName(), types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: "bench-scale", Force: &force})
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", gvk.Kind, u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

func apply(args []string) int {
	fs := flag.NewFlagSet("apply", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	file := fs.String("file", "", "YAML stream of objects")
	workers := fs.Int("workers", 8, "requests in flight")
	_ = fs.Parse(args)
	objs, err := readObjects(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-client: apply:", err)
		return 1
	}
	dyn, err := dynamicClient(*kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-client:", err)
		return 1
	}
	ctx := context.Background()
	work := make(chan *unstructured.Unstructured)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				if err := applyOne(ctx, dyn, u); err != nil {
					mu.Lock()
					failed++
					if failed <= 5 {
						fmt.Fprintln(os.Stderr, "bench-client: apply:", err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, u := range objs {
		work <- u
	}
	close(work)
	wg.Wait()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "bench-client: apply: %d of %d failed\n", failed, len(objs))
		return 1
	}
	return 0
}
