package azureemu

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/localfleet"
)

// IngressService is the LoadBalancer Service the emulator gives every
// managed cluster, as AKS's application routing add-on has one: the aks
// provider finds a cluster's ingress address in its status.
const IngressService = "app-routing-system/nginx"

// publishIngress plays Azure's load balancer for a backing cluster: the
// ingress Service of type LoadBalancer gets the local ingress stand-in's
// address (127.0.0.1, on the Service's port) in its status.
func publishIngress(ctx context.Context, c *localfleet.Cluster) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	ns, name, _ := strings.Cut(IngressService, "/")
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	port := int32(c.Ports.Ingress)
	svc, err := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		svc, err = client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "upshift-azure-emulator"}},
			Spec: corev1.ServiceSpec{
				Type:                          corev1.ServiceTypeLoadBalancer,
				AllocateLoadBalancerNodePorts: new(false),
				Selector:                      map[string]string{"app": "nginx"},
				Ports:                         []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(80), Protocol: corev1.ProtocolTCP}},
			},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	if lb := svc.Status.LoadBalancer.Ingress; len(lb) == 1 && lb[0].IP == "127.0.0.1" {
		return nil
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.0.0.1", IPMode: new(corev1.LoadBalancerIPModeProxy)}}
	_, err = client.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	return err
}

// publishIngressOf publishes a backing cluster's ingress, saying in the
// log when it cannot (the cluster is served all the same).
func (s *Server) publishIngressOf(name string) {
	ctx, cancel := context.WithTimeout(s.work, 20*time.Second)
	defer cancel()
	c, err := s.Fleet.Get(name)
	if err == nil {
		err = publishIngress(ctx, c)
	}
	if err != nil {
		s.logf("ingress Service %s of %s not published: %v", IngressService, name, err)
		return
	}
	s.logf("ingress Service %s of %s: 127.0.0.1:%d", IngressService, name, c.Ports.Ingress)
}
