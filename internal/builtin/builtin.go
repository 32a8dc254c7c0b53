package builtin

import (
	"sync"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/methods/bluegreen"
	"upshift.dev/upshift/internal/methods/canary"
	"upshift.dev/upshift/internal/methods/inplace"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/cluster/exec"
	"upshift.dev/upshift/internal/providers/cluster/kubeconfig"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/azuredns"
	"upshift.dev/upshift/internal/providers/traffic/dns"
	"upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/providers/traffic/gatewayapi"
	"upshift.dev/upshift/internal/providers/traffic/haproxy"
	"upshift.dev/upshift/internal/providers/traffic/trafficmanager"
	"upshift.dev/upshift/internal/steps"
)

var once sync.Once

// Register registers every shipped method and provider; calling it again
// does nothing.
func Register() {
	once.Do(func() {
		methods.Register(inplace.Method{})
		methods.Register(bluegreen.Method{})
		methods.Register(canary.Method{})
		cluster.Register(v1alpha1.ProviderLocal, cluster.Kind{Open: local.Open, NameField: local.NameField, Validate: local.Validate})
		cluster.Register(v1alpha1.ProviderAKS, cluster.Kind{Open: aks.Open, NameField: aks.NameField, Validate: aks.Validate, OwnCredentials: true,
			Cannot: map[string]string{
				steps.OpSoakReadyPods:     "AKS drains its pools' nodes itself, with a timer soak (nodeSoakDuration); gate on the workloads after the pool instead (a postUpgrade KubernetesHealth gate)",
				steps.OpDeleteUndrainable: "AKS drains its pools' nodes itself and never deletes a pod a budget keeps; use undrainable.then Fail (AKS's drainTimeoutInMinutes)",
				steps.OpCordonUndrainable: "AKS API " + aks.APIVersion + " (the one upshift speaks) has no undrainableNodeBehavior: AKS fails the pool's upgrade at drainTimeoutInMinutes; use undrainable.then Fail, or fix what blocks the drain (upshift plan --simulate names it)",
			}})
		cluster.Register(v1alpha1.ProviderExec, cluster.Kind{Open: exec.Open, NameField: exec.NameField, Validate: exec.Validate,
			Cannot: map[string]string{
				steps.OpSoakReadyPods:     "the provider's command drains the pool's nodes; make it wait for the workloads, or gate on them after the pool (a postUpgrade KubernetesHealth gate)",
				steps.OpDeleteUndrainable: "the provider's command drains the pool's nodes; use undrainable.then Cordon or Fail",
			}})
		cluster.Register(v1alpha1.ProviderKubeconfig, cluster.Kind{Open: kubeconfig.Open, Validate: kubeconfig.Validate, Cannot: kubeconfig.Cannot})
		traffic.Register(v1alpha1.TrafficGateway, gateway.FromSpec)
		traffic.Register(v1alpha1.TrafficDNS, dns.FromSpec)
		traffic.Register(v1alpha1.TrafficTrafficManager, trafficmanager.FromSpec)
		traffic.Register(v1alpha1.TrafficAzureDNS, azuredns.FromSpec)
		traffic.Register(v1alpha1.TrafficHAProxy, haproxy.FromSpec)
		traffic.Register(v1alpha1.TrafficGatewayAPI, gatewayapi.FromSpec)
	})
}
