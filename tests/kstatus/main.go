// kstatus: what the kstatus library of sigs.k8s.io/cli-utils (the one
// Flux, kpt and the cli-utils applier judge resources with) computes for an
// object, and whether its status.conditions are valid metav1.Conditions.
//
//	kstatus < OBJECT.json
//	    prints "STATUS: message" (Current, InProgress, Failed, ...); exits 1
//	    when a condition is not a valid metav1.Condition (each printed), 2 on
//	    unreadable input.
//	kstatus -rollout-fixtures DIR
//	    each case of tests/unit/data/rollout: the status its expected.json
//	    writes (conditions "TYPE STATUS REASON: message", filled in with
//	    observedGeneration and a lastTransitionTime as the operator does),
//	    checked against docs/resources.md: Ready True is Current, Ready False
//	    for a reason that needs someone to act (failedReasons) is Failed, any
//	    other Ready False is InProgress.
//	    Prints TAP lines; exits 1 on a failure.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// invalidConditions lists what is wrong with obj's status.conditions as
// metav1.Conditions (empty: all valid).
func invalidConditions(obj map[string]interface{}) []string {
	var problems []string
	raw, found, err := unstructured.NestedSlice(obj, "status", "conditions")
	if err != nil {
		return []string{"status.conditions: " + err.Error()}
	}
	if !found {
		return nil
	}
	b, _ := json.Marshal(raw)
	var conds []metav1.Condition
	if err := json.Unmarshal(b, &conds); err != nil {
		return []string{"status.conditions: not metav1.Conditions: " + err.Error()}
	}
	for _, e := range metav1validation.ValidateConditions(conds, field.NewPath("status", "conditions")) {
		problems = append(problems, e.Error())
	}
	for i, c := range conds { // required by the type, not checked by ValidateConditions
		if c.ObservedGeneration == 0 {
			problems = append(problems, fmt.Sprintf("status.conditions[%d].observedGeneration: missing", i))
		}
	}
	return problems
}

// compute decodes obj as the apimachinery JSON decoder would (integers as
// int64, which kstatus requires of generations) and runs status.Compute.
func compute(obj map[string]interface{}) (*status.Result, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return status.Compute(u)
}

func one(in io.Reader) int {
	var obj map[string]interface{}
	if err := json.NewDecoder(in).Decode(&obj); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: stdin is not a JSON object:", err)
		return 2
	}
	res, err := compute(obj)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: status.Compute:", err)
		return 2
	}
	fmt.Printf("%s: %s\n", res.Status, res.Message)
	if p := invalidConditions(obj); len(p) > 0 {
		for _, s := range p {
			fmt.Println("invalid condition:", s)
		}
		return 1
	}
	return 0
}

var condRE = regexp.MustCompile(`^(\w+) (True|False|Unknown) (\w+): (.*)$`)

// fixtureObject is the Service whose status a case writes, or nil when the
// case writes none (an invalid spec, a sameAs case).
func fixtureObject(dir string) (map[string]interface{}, error) {
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		return nil, err
	}
	var exp struct {
		Status map[string]interface{} `json:"status"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		return nil, err
	}
	if exp.Status == nil {
		return nil, nil
	}
	gen, _ := exp.Status["observedGeneration"].(float64)
	var conds []interface{}
	for _, c := range exp.Status["conditions"].([]interface{}) {
		m := condRE.FindStringSubmatch(c.(string))
		if m == nil {
			return nil, fmt.Errorf("condition %q is not TYPE STATUS REASON: message", c)
		}
		conds = append(conds, map[string]interface{}{
			"type": m[1], "status": m[2], "reason": m[3], "message": m[4],
			"observedGeneration": gen, "lastTransitionTime": "2026-11-30T10:00:00Z",
		})
	}
	exp.Status["conditions"] = conds
	return map[string]interface{}{
		"apiVersion": "breakwater.io/v1alpha1", "kind": "Service",
		"metadata": map[string]interface{}{"name": "orders", "namespace": "shop", "generation": gen},
		"status":   exp.Status,
	}, nil
}

// failedReasons are the Ready reasons that docs/resources.md says need
// someone to change something: kstatus must read Failed.
var failedReasons = map[string]bool{
	"RolledBack": true, "ProgressDeadlineExceeded": true, "RouteConflict": true,
	"OwnershipConflict": true, "ReconcileFailed": true, "InvalidSpec": true,
}

// want is the kstatus status docs/resources.md promises for obj's Ready
// condition (not read from Reconciling or Stalled, which are under test).
func want(obj map[string]interface{}) string {
	conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]interface{})
		if m["type"] != "Ready" {
			continue
		}
		switch {
		case m["status"] == "True":
			return "Current"
		case failedReasons[m["reason"].(string)]:
			return "Failed"
		}
	}
	return "InProgress"
}

func fixtures(root string) int {
	entries, err := os.ReadDir(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		return 2
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	failed, n := 0, 0
	seen := map[string]int{}
	for _, name := range names {
		obj, err := fixtureObject(filepath.Join(root, name))
		if err != nil {
			fmt.Printf("not ok - %s: %v\n", name, err)
			failed++
			continue
		}
		if obj == nil {
			continue
		}
		n++
		res, err := compute(obj)
		if err != nil {
			fmt.Printf("not ok - %s: status.Compute: %v\n", name, err)
			failed++
			continue
		}
		w := want(obj)
		seen[string(res.Status)]++
		if string(res.Status) != w {
			fmt.Printf("not ok - %s: kstatus %s (%s), docs say %s\n", name, res.Status, res.Message, w)
			failed++
		} else {
			fmt.Printf("ok - %s: kstatus %s\n", name, res.Status)
		}
		if p := invalidConditions(obj); len(p) > 0 {
			fmt.Printf("not ok - %s: invalid conditions: %s\n", name, strings.Join(p, "; "))
			failed++
		}
	}
	// every kstatus outcome a Service can have is among the cases
	for _, s := range []string{"Current", "InProgress", "Failed"} {
		if seen[s] == 0 {
			fmt.Printf("not ok - no case reads %s\n", s)
			failed++
		} else {
			fmt.Printf("ok - %d cases read %s\n", seen[s], s)
		}
	}
	if n < 30 {
		fmt.Printf("not ok - only %d cases with a status in %s\n", n, root)
		failed++
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func main() {
	dir := flag.String("rollout-fixtures", "", "check each case of this tests/unit/data/rollout folder")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kstatus < OBJECT.json | kstatus -rollout-fixtures DIR")
		os.Exit(2)
	}
	if *dir != "" {
		os.Exit(fixtures(*dir))
	}
	os.Exit(one(os.Stdin))
}
