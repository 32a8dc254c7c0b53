package aks

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultIngressService is the LoadBalancer Service of AKS's application
// routing add-on (managed NGINX).
const DefaultIngressService = "app-routing-system/nginx"

// restConfig reaches a managed cluster's API server with the credentials
// Azure lists for it (user, or admin when the fleet entry asks), kept for
// the provider's life.
func (p *Provider) restConfig(ctx context.Context, name string) (*rest.Config, error) {
	p.mu.Lock()
	cfg, ok := p.kube[name]
	p.mu.Unlock()
	if ok {
		return cfg, nil
	}
	var kubeconfig []byte
	if p.Admin {
		resp, err := p.Clusters.ListClusterAdminCredentials(ctx, p.Group, name, nil)
		if err != nil {
			return nil, azureError(fmt.Sprintf("managed cluster %s/%s: admin credentials", p.Group, name), err)
		}
		if len(resp.Kubeconfigs) > 0 {
			kubeconfig = resp.Kubeconfigs[0].Value
		}
	} else {
		resp, err := p.Clusters.ListClusterUserCredentials(ctx, p.Group, name, nil)
		if err != nil {
			return nil, azureError(fmt.Sprintf("managed cluster %s/%s: user credentials", p.Group, name), err)
		}
		if len(resp.Kubeconfigs) > 0 {
			kubeconfig = resp.Kubeconfigs[0].Value
		}
	}
	if len(kubeconfig) == 0 {
		return nil, fmt.Errorf("managed cluster %s/%s: Azure returned no kubeconfig", p.Group, name)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("managed cluster %s/%s: the kubeconfig Azure returned: %w", p.Group, name, err)
	}
	cfg.Timeout = 15 * time.Second
	p.mu.Lock()
	if p.kube == nil {
		p.kube = map[string]*rest.Config{}
	}
	p.kube[name] = cfg
	p.mu.Unlock()
	return cfg, nil
}

// IngressURL is where the cluster's ingress answers: the address its
// ingress Service of type LoadBalancer got from Azure, on the Service's
// http port (or its first).
func (p *Provider) IngressURL(ctx context.Context, name string) (string, error) {
	svcName := p.Ingress
	if svcName == "" {
		svcName = DefaultIngressService
	}
	ns, n, ok := strings.Cut(svcName, "/")
	if !ok {
		return "", fmt.Errorf("spec.aks.ingressService %q: write namespace/name", svcName)
	}
	cfg, err := p.restConfig(ctx, name)
	if err != nil {
		return "", err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	svc, err := client.CoreV1().Services(ns).Get(ctx, n, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			p.mu.Lock()
			delete(p.kube, name) // the credentials changed (a cluster made again?)
			p.mu.Unlock()
		}
		return "", fmt.Errorf("the ingress Service %s of %s: %w", svcName, name, err)
	}
	return serviceURL(svc)
}

func serviceURL(svc *corev1.Service) (string, error) {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return "", fmt.Errorf("the ingress Service %s/%s is of type %s, not LoadBalancer", svc.Namespace, svc.Name, svc.Spec.Type)
	}
	lb := svc.Status.LoadBalancer.Ingress
	if len(lb) == 0 || (lb[0].IP == "" && lb[0].Hostname == "") {
		return "", fmt.Errorf("the ingress Service %s/%s has no load balancer address yet", svc.Namespace, svc.Name)
	}
	host := lb[0].IP
	if host == "" {
		host = lb[0].Hostname
	}
	if len(svc.Spec.Ports) == 0 {
		return "", fmt.Errorf("the ingress Service %s/%s has no port", svc.Namespace, svc.Name)
	}
	port := svc.Spec.Ports[0]
	for _, sp := range svc.Spec.Ports {
		if sp.Name == "http" || sp.Port == 80 {
			port = sp
			break
		}
	}
	scheme := "http"
	if port.Name == "https" || port.Port == 443 {
		scheme = "https"
	}
	if (scheme == "http" && port.Port == 80) || (scheme == "https" && port.Port == 443) {
		return scheme + "://" + host, nil
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(port.Port))), nil
}
