package sampleapp

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// App describes one deployment of the sample.
type App struct {
	Namespace string
	Name      string
	Host      string // the Ingress host
	Replicas  int32
	// MinAvailable of the PodDisruptionBudget; 0 creates no budget.
	MinAvailable int32
	// IngressAnnotations, such as the local fleet's fault annotations
	// (ingress.FaultErrorPercent…), make the app misbehave.
	IngressAnnotations map[string]string
}

func (a App) labels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": a.Name}
}

// Deployment is the app's workload.
func (a App) Deployment() *appsv1.Deployment {
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: 5,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name, Labels: a.labels()},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(a.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: a.labels()},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: a.labels()},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					Containers: []corev1.Container{{
						Name:  "web",
						Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
						Args:  []string{"netexec", "--http-port=8080"},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("50m"),
							corev1.ResourceMemory: resource.MustParse("64Mi"),
						}},
						ReadinessProbe: probe("/healthz"),
						LivenessProbe:  probe("/healthz"),
						Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
							Sleep: &corev1.SleepAction{Seconds: 5},
						}},
					}},
				},
			},
		},
	}
}

// Service is the app's Service.
func (a App) Service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name, Labels: a.labels()},
		Spec: corev1.ServiceSpec{
			Selector: a.labels(),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
}

// Ingress routes the app's host to its Service.
func (a App) Ingress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name, Labels: a.labels(), Annotations: a.IngressAnnotations},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: a.Host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path:     "/",
					PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: a.Name, Port: networkingv1.ServiceBackendPort{Name: "http"},
					}},
				}},
			}},
		}}},
	}
}

// PDB keeps MinAvailable pods up through voluntary disruptions.
func (a App) PDB() *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name, Labels: a.labels()},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(a.MinAvailable)),
			Selector:     &metav1.LabelSelector{MatchLabels: a.labels()},
		},
	}
}

// Deploy creates the app's objects, or updates them if they exist.
func (a App) Deploy(ctx context.Context, client kubernetes.Interface) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.Namespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", a.Namespace, err)
	}
	steps := []func() error{
		func() error {
			return upsert(ctx, a.Deployment(), client.AppsV1().Deployments(a.Namespace).Create, client.AppsV1().Deployments(a.Namespace).Update, client.AppsV1().Deployments(a.Namespace).Get)
		},
		func() error {
			return upsert(ctx, a.Service(), client.CoreV1().Services(a.Namespace).Create, client.CoreV1().Services(a.Namespace).Update, client.CoreV1().Services(a.Namespace).Get)
		},
		func() error {
			return upsert(ctx, a.Ingress(), client.NetworkingV1().Ingresses(a.Namespace).Create, client.NetworkingV1().Ingresses(a.Namespace).Update, client.NetworkingV1().Ingresses(a.Namespace).Get)
		},
	}
	if a.MinAvailable > 0 {
		steps = append(steps, func() error {
			return upsert(ctx, a.PDB(), client.PolicyV1().PodDisruptionBudgets(a.Namespace).Create, client.PolicyV1().PodDisruptionBudgets(a.Namespace).Update, client.PolicyV1().PodDisruptionBudgets(a.Namespace).Get)
		})
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("deploying sample app %s/%s: %w", a.Namespace, a.Name, err)
		}
	}
	return nil
}

type object interface {
	metav1.Object
	comparable
}

func upsert[T object](ctx context.Context, obj T,
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error),
	get func(context.Context, string, metav1.GetOptions) (T, error),
) error {
	_, err := create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing, err := get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	_, err = update(ctx, obj, metav1.UpdateOptions{})
	return err
}

// WaitAvailable waits until the Deployment has all its replicas available.
func (a App) WaitAvailable(ctx context.Context, client kubernetes.Interface, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d, err := client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas == a.Replicas && d.Status.UpdatedReplicas == a.Replicas {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("deployment %s/%s: %d of %d replicas available after %s", a.Namespace, a.Name, d.Status.AvailableReplicas, a.Replicas, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ReadyPods counts the app's pods that are Ready and not terminating: what
// a user's traffic can reach.
func (a App) ReadyPods(ctx context.Context, client kubernetes.Interface) (int, error) {
	pods, err := client.CoreV1().Pods(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + a.Name})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}
