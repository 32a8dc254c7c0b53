package architecture

import "strings"

// Layers of the module's packages, lowest first. The names are import
// paths without the module's prefix; a name ending in "/..." covers the
// packages under it.
var Layers = []Layer{
	{Name: "leaves", Doc: "API types and helpers that know nothing of runs, providers or clusters' state", Packages: []string{
		"api/v1alpha1", "internal/atomicfile", "internal/azurearm", "internal/azurespec", "internal/cmdkit", "internal/crds", "internal/exitcode",
		"internal/filelock", "internal/freeze", "internal/gates/gatespec", "internal/gctune", "internal/ingress",
		"internal/kubeversion", "internal/loadgen", "internal/names", "internal/nodeimages", "internal/nodepool", "internal/park",
		"internal/pki", "internal/printer", "internal/procs", "internal/proxyprobe", "internal/registry",
		"internal/restconfig", "internal/runmetrics", "internal/sampleapp", "internal/scan/...", "internal/statesync",
		"internal/tail", "internal/testdns", "internal/toolchain", "internal/transient",
		"internal/window", "internal/yamlstream", "internal/architecture", "tools",
	}},
	{Name: "interfaces", Doc: "the provider interfaces, the run store, the plan, and the node-pool upgrade every provider without a cloud of its own uses", Packages: []string{
		"internal/providers/cluster", "internal/providers/traffic", "internal/providers/fleetmember", "internal/providers/traffickinds", "internal/steps", "internal/store", "internal/plan", "internal/nodes", "internal/drainsim",
	}},
	{Name: "providers", Doc: "one package per cluster or traffic provider, and the local fleet the local provider runs", Packages: []string{
		"internal/providers/cluster/...", "internal/providers/traffic/...", "internal/localfleet",
	}},
	{Name: "parts", Doc: "one job each over the providers: methods, gates, the fleet file, the gateway, reports and schedules", Packages: []string{
		"internal/methods", "internal/methods/...",
		"internal/gates", "internal/analysis", "internal/fleet", "internal/clusterstatus",
		"internal/hubstore", "internal/notify", "internal/compliance", "internal/patch", "internal/autoupgrade",
		"internal/frontdoor", "internal/frontdoor/gatewayapi", "internal/scancli", "internal/image",
	}},
	{Name: "engine", Doc: "the engine that drives runs over the parts, the wiring of the built-in parts, and the Azure emulator", Packages: []string{
		"internal/engine", "internal/builtin", "internal/azureemu",
	}},
	{Name: "servers", Doc: "the hub controller, the client that reaches a hub, and the dashboard", Packages: []string{
		"internal/hub", "internal/hubclient", "internal/dashboard", "internal/dashboard/kubeauth",
	}},
	{Name: "commands", Doc: "the CLI's commands", Packages: []string{
		"internal/cli", "internal/demo",
	}},
	{Name: "programs", Doc: "binaries, test harnesses and benchmarks", Packages: []string{
		"cmd/...", "tools/kubectl", "internal/testfleet", "internal/doctest", "bench",
	}},
}

// Layer is a set of packages at one height of the map.
type Layer struct {
	Name     string
	Doc      string
	Packages []string
}

// Of returns the index of the layer that holds pkg (a path without the
// module's prefix), or -1 when no layer does.
func Of(pkg string) int {
	best, bestLen := -1, -1
	for i, l := range Layers {
		for _, p := range l.Packages {
			n, ok := covers(p, pkg)
			if ok && n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	return best
}

// covers says whether a map entry covers pkg, and how specific it is.
func covers(entry, pkg string) (int, bool) {
	if prefix, ok := strings.CutSuffix(entry, "/..."); ok {
		return len(prefix), pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
	}
	return len(entry) + 1, entry == pkg
}
