package builtin

import (
	"sync"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/methods/bluegreen"
	"upshift.dev/upshift/internal/methods/canary"
	"upshift.dev/upshift/internal/methods/inplace"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/cluster/exec"
	"upshift.dev/upshift/internal/providers/cluster/kubeconfig"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/providers/traffic/azuredns"
	"upshift.dev/upshift/internal/providers/traffic/dns"
	"upshift.dev/upshift/internal/providers/traffic/frontdoor"
	"upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/providers/traffic/gatewayapi"
	"upshift.dev/upshift/internal/providers/traffic/haproxy"
	"upshift.dev/upshift/internal/providers/traffic/trafficmanager"
	"upshift.dev/upshift/internal/providers/traffickinds"
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
		fleetmember.Register(v1alpha1.ProviderLocal, fleetmember.Kind{Open: local.Open, NameField: local.NameField, Validate: local.Validate})
		fleetmember.Register(v1alpha1.ProviderAKS, fleetmember.Kind{Open: aks.Open, NameField: aks.NameField, Validate: aks.Validate, OwnCredentials: true,
			Cannot: map[string]string{
				steps.OpSoakReadyPods:     "AKS drains its pools' nodes itself, with a timer soak (nodeSoakDuration); gate on the workloads after the pool instead (a postUpgrade KubernetesHealth gate)",
				steps.OpDeleteUndrainable: "AKS drains its pools' nodes itself and never deletes a pod a budget keeps; use undrainable.then Fail (AKS's drainTimeoutInMinutes)",
				steps.OpCordonUndrainable: "AKS API " + aks.APIVersion + " (the one upshift speaks) has no undrainableNodeBehavior: AKS fails the pool's upgrade at drainTimeoutInMinutes; use undrainable.then Fail, or fix what blocks the drain (upshift plan --simulate names it)",
			}})
		fleetmember.Register(v1alpha1.ProviderExec, fleetmember.Kind{Open: exec.Open, NameField: exec.NameField, Validate: exec.Validate,
			Cannot: map[string]string{
				steps.OpSoakReadyPods:     "the provider's command drains the pool's nodes; make it wait for the workloads, or gate on them after the pool (a postUpgrade KubernetesHealth gate)",
				steps.OpDeleteUndrainable: "the provider's command drains the pool's nodes; use undrainable.then Cordon or Fail",
			}})
		fleetmember.Register(v1alpha1.ProviderKubeconfig, fleetmember.Kind{Open: kubeconfig.Open, Validate: kubeconfig.Validate, Cannot: kubeconfig.Cannot})
		traffickinds.Register(v1alpha1.TrafficGateway, gateway.FromSpec)
		traffickinds.Register(v1alpha1.TrafficDNS, dns.FromSpec)
		traffickinds.Register(v1alpha1.TrafficTrafficManager, trafficmanager.FromSpec)
		traffickinds.Register(v1alpha1.TrafficAzureDNS, azuredns.FromSpec)
		traffickinds.Register(v1alpha1.TrafficFrontDoor, frontdoor.FromSpec)
		traffickinds.Register(v1alpha1.TrafficHAProxy, haproxy.FromSpec)
		traffickinds.Register(v1alpha1.TrafficGatewayAPI, gatewayapi.FromSpec)
	})
}
