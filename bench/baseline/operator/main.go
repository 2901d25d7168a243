// The baseline of bench/scale.sh: the operator a user would otherwise write
// with controller-runtime, doing breakwater's core job for the same resources.
//
// A breakwater.io/v1alpha1 Service (read as unstructured: no generated types)
// becomes a Deployment and a ClusterIP Service of the same name, owned by it;
// spec.image and spec.replicas are followed; status gets a Ready condition
// carrying observedGeneration, status.observedGeneration, the replica counts
// and status.image once the Deployment has rolled it out. Scoped to one
// namespace, as breakwater is with --namespace; the defaults of a kubebuilder
// scaffold otherwise (controller-runtime's cache, client and work queue), with
// as many workers as breakwater's default (4).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

var serviceGVK = schema.GroupVersionKind{Group: "breakwater.io", Version: "v1alpha1", Kind: "Service"}

const selectorLabel = "breakwater.io/service"

func newService() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(serviceGVK)
	return u
}

type reconciler struct {
	client.Client
}

// spec is what the reconciler reads of a Service.
type spec struct {
	image    string
	replicas int32
	port     int32
}

func readSpec(u *unstructured.Unstructured) (spec, error) {
	s := spec{replicas: 1, port: 8080}
	image, _, err := unstructured.NestedString(u.Object, "spec", "image")
	if err != nil || image == "" {
		return s, fmt.Errorf("spec.image: %v", err)
	}
	s.image = image
	if n, ok, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); ok {
		s.replicas = int32(n)
	}
	if n, ok, _ := unstructured.NestedInt64(u.Object, "spec", "port"); ok {
		s.port = int32(n)
	}
	return s, nil
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	svc := newService()
	if err := r.Get(ctx, req.NamespacedName, svc); err != nil {
		// deleted: the garbage collector removes what it owned
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if svc.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil
	}
	s, err := readSpec(svc)
	if err != nil {
		return ctrl.Result{}, nil // the CRD's validation makes this unreachable
	}

	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: req.Name, Namespace: req.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, dep, func() error {
		mutateDeployment(dep, req.Name, s)
		return controllerutil.SetControllerReference(svc, dep, r.Scheme())
	}); err != nil {
		return ctrl.Result{}, err
	}
	cs := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: req.Name, Namespace: req.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, cs, func() error {
		mutateService(cs, req.Name, s)
		return controllerutil.SetControllerReference(svc, cs, r.Scheme())
	}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.writeStatus(ctx, svc, dep, s)
}

// mutateDeployment sets the fields the operator owns and leaves the API
// server's defaults alone, so an unchanged Service makes no update.
func mutateDeployment(dep *appsv1.Deployment, name string, s spec) {
	labels := map[string]string{selectorLabel: name}
	dep.Spec.Replicas = &s.replicas
	if dep.Spec.Selector == nil { // immutable once created
		dep.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	}
	dep.Spec.Template.Labels = labels
	port := corev1.ContainerPort{Name: "http", ContainerPort: s.port, Protocol: corev1.ProtocolTCP}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		dep.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app"}}
	}
	c := &dep.Spec.Template.Spec.Containers[0]
	c.Name = "app"
	c.Image = s.image
	if len(c.Ports) != 1 || c.Ports[0] != port {
		c.Ports = []corev1.ContainerPort{port}
	}
}

func mutateService(cs *corev1.Service, name string, s spec) {
	cs.Spec.Selector = map[string]string{selectorLabel: name}
	port := corev1.ServicePort{Name: "http", Port: s.port, TargetPort: intstr.FromString("http"),
		Protocol: corev1.ProtocolTCP}
	if len(cs.Spec.Ports) != 1 || cs.Spec.Ports[0] != port {
		cs.Spec.Ports = []corev1.ServicePort{port}
	}
}

// rolledOut: the Deployment controller has seen the current spec and every
// replica runs it and is available.
func rolledOut(dep *appsv1.Deployment, s spec) bool {
	st := dep.Status
	return st.ObservedGeneration >= dep.Generation && st.UpdatedReplicas == s.replicas &&
		st.AvailableReplicas == s.replicas && st.Replicas == s.replicas
}

func (r *reconciler) writeStatus(ctx context.Context, svc *unstructured.Unstructured, dep *appsv1.Deployment, s spec) error {
	old, _, _ := unstructured.NestedMap(svc.Object, "status")
	status := runtime.DeepCopyJSON(old)
	if status == nil {
		status = map[string]interface{}{}
	}
	var conds []metav1.Condition
	items, _ := status["conditions"].([]interface{})
	for _, item := range items {
		var c metav1.Condition
		if m, ok := item.(map[string]interface{}); ok &&
			runtime.DefaultUnstructuredConverter.FromUnstructured(m, &c) == nil {
			conds = append(conds, c)
		}
	}
	ready := metav1.Condition{Type: "Ready", ObservedGeneration: svc.GetGeneration(),
		Status: metav1.ConditionFalse, Reason: "RolloutInProgress", Message: "the Deployment is rolling out"}
	if rolledOut(dep, s) {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, "RolloutComplete", "every replica is available"
		status["image"] = s.image
	}
	meta.SetStatusCondition(&conds, ready)
	// back to unstructured with int64 numbers, as the API's objects decode, so
	// an unchanged status compares equal and is not written again
	items = items[:0:0]
	for i := range conds {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&conds[i])
		if err != nil {
			return err
		}
		items = append(items, m)
	}
	status["conditions"] = items
	status["observedGeneration"] = svc.GetGeneration()
	status["replicas"] = int64(dep.Status.Replicas)
	status["updatedReplicas"] = int64(dep.Status.UpdatedReplicas)
	status["readyReplicas"] = int64(dep.Status.ReadyReplicas)
	status["availableReplicas"] = int64(dep.Status.AvailableReplicas)
	status["selector"] = selectorLabel + "=" + svc.GetName()
	if equality.Semantic.DeepEqual(old, status) {
		return nil
	}
	svc.Object["status"] = status
	return r.Status().Update(ctx, svc)
}

func main() {
	var namespace, probeAddr string
	var workers int
	// --kubeconfig is controller-runtime's own flag (or $KUBECONFIG)
	flag.StringVar(&namespace, "namespace", "", "the one namespace watched (required)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", "127.0.0.1:8081", "/healthz and /readyz")
	flag.IntVar(&workers, "workers", 4, "concurrent reconciles (breakwater's default)")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	log := ctrl.Log.WithName("baseline")
	if namespace == "" {
		fmt.Fprintln(os.Stderr, "baseline-operator: --namespace is required")
		os.Exit(2)
	}
	// controller-runtime's defaults: no client-side rate limit (the API
	// server's priority and fairness instead)
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "kubeconfig")
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: probeAddr,
	})
	if err != nil {
		log.Error(err, "manager")
		os.Exit(1)
	}
	r := &reconciler{Client: mgr.GetClient()}
	err = ctrl.NewControllerManagedBy(mgr).Named("bsvc").
		For(newService()).Owns(&appsv1.Deployment{}).Owns(&corev1.Service{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
	if err != nil {
		log.Error(err, "controller")
		os.Exit(1)
	}

	// Ready once the three informers have synced, as breakwater's /readyz.
	var synced atomic.Bool
	_ = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		for _, obj := range []client.Object{newService(), &appsv1.Deployment{}, &corev1.Service{}} {
			if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
				return err
			}
		}
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
			log.Info("caches synced")
		}
		<-ctx.Done()
		return nil
	}))
	_ = mgr.AddHealthzCheck("ping", func(*http.Request) error { return nil })
	_ = mgr.AddReadyzCheck("synced", func(*http.Request) error {
		if !synced.Load() {
			return errors.New("caches not synced")
		}
		return nil
	})
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
