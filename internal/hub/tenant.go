package hub

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"upshift.dev/upshift/api/v1alpha1"
)

// The tenant boundary. Anyone who may create an UpdateRun, a Cluster or a
// member's Secret in the hub's namespace must not be able to run code in
// the hub's pod, which holds every member's credentials. By default the
// hub refuses what would: Command gates, exec providers, and kubeconfigs
// whose users run exec or auth-provider plugins. --allow-exec lifts this
// for a namespace whose every writer is trusted with the hub's identity.

// execPaths lists what in a run's spec, its strategy and its fleet would
// run a command in the hub's pod, each as a path a user can find.
func execPaths(spec *v1alpha1.UpdateRunSpec, strategy *v1alpha1.UpdateStrategySpec, clusters []v1alpha1.Cluster) []string {
	var out []string
	gates := func(root string, v any) {
		walkGates(reflect.ValueOf(v), root, func(path string, g *v1alpha1.GateSpec) {
			if g.Type == v1alpha1.GateCommand || g.Command != nil {
				out = append(out, fmt.Sprintf("%s (gate %s) is a Command gate", path, g.Name))
			}
		})
	}
	if spec != nil {
		gates("spec", spec)
	}
	if strategy != nil {
		gates("strategy", strategy)
	}
	for _, c := range clusters {
		if c.Spec.Provider == v1alpha1.ProviderExec || c.Spec.Exec != nil {
			out = append(out, fmt.Sprintf("Cluster %s uses the exec provider", c.Name))
		}
		if a := c.Spec.AKS; a != nil && a.NodeImageFeed != "" {
			out = append(out, fmt.Sprintf("Cluster %s reads spec.aks.nodeImageFeed, a file of the controller's pod", c.Name))
		}
	}
	return out
}

// walkGates calls fn for every GateSpec held anywhere in v, with its path
// in JSON field names, so that a gate added to any part of the API later
// is found without a change here.
func walkGates(v reflect.Value, path string, fn func(string, *v1alpha1.GateSpec)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkGates(v.Elem(), path, fn)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[v1alpha1.GateSpec]() {
			g := v.Interface().(v1alpha1.GateSpec) // map values cannot be addressed
			fn(path, &g)
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			next := path
			if name != "" && name != "-" {
				next = path + "." + name
			}
			walkGates(v.Field(i), next, fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkGates(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			walkGates(iter.Value(), fmt.Sprintf("%s[%v]", path, iter.Key()), fn)
		}
	}
}

// execRefused is the refusal of a run that would run code in the hub.
func execRefused(paths []string) error {
	return fmt.Errorf("the hub runs no command a run or a cluster names (%s): start the hub with --allow-exec (chart value allowExec) only if everyone who may create UpdateRuns, Clusters and their Secrets in this namespace may act as the hub's ServiceAccount", strings.Join(paths, "; "))
}

// kubeconfigPlugins lists the users of a kubeconfig that run a plugin to
// get their credentials.
func kubeconfigPlugins(kc *clientcmdapi.Config) []string {
	var out []string
	for name, a := range kc.AuthInfos {
		switch {
		case a.Exec != nil:
			out = append(out, fmt.Sprintf("user %s runs exec plugin %s", name, a.Exec.Command))
		case a.AuthProvider != nil:
			out = append(out, fmt.Sprintf("user %s runs auth-provider %s", name, a.AuthProvider.Name))
		}
	}
	return out
}

// kubeconfigFiles lists the files a kubeconfig reads: on a hub, files of
// its pod.
func kubeconfigFiles(kc *clientcmdapi.Config) []string {
	var out []string
	for name, a := range kc.AuthInfos {
		for field, path := range map[string]string{"tokenFile": a.TokenFile, "client-certificate": a.ClientCertificate, "client-key": a.ClientKey} {
			if path != "" {
				out = append(out, fmt.Sprintf("user %s %s %s", name, field, path))
			}
		}
	}
	for name, c := range kc.Clusters {
		if c.CertificateAuthority != "" {
			out = append(out, fmt.Sprintf("cluster %s certificate-authority %s", name, c.CertificateAuthority))
		}
	}
	slices.Sort(out)
	return out
}

// secretsOf lists the strings of a kubeconfig that are secret, for the
// status writes to scrub.
func secretsOf(kc *clientcmdapi.Config) []string {
	var out []string
	for _, a := range kc.AuthInfos {
		out = append(out, a.Token, a.Password, string(a.ClientKeyData))
	}
	return out
}

// scrubber replaces the secrets the hub has read with a mark, in any text
// bound for a run's status (a gate's output, an error's message).
type scrubber struct {
	mu      sync.Mutex
	secrets map[string]bool
}

// minSecret is the shortest string scrubbed: shorter ones would mark
// ordinary words, and are not worth stealing.
const minSecret = 8

func (s *scrubber) add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]bool{}
	}
	for _, v := range secrets {
		if len(v) >= minSecret {
			// As a kubeconfig holds it (base64), whole.
			s.secrets[base64.StdEncoding.EncodeToString([]byte(v))] = true
		}
		for _, line := range strings.Split(v, "\n") {
			// A PEM key is matched line by line as well: an output may
			// hold part of it.
			if line = strings.TrimSpace(line); len(line) >= minSecret && !strings.HasPrefix(line, "-----") {
				s.secrets[line] = true
			}
		}
	}
}

// text returns t with every secret replaced.
func (s *scrubber) text(t string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v := range s.secrets {
		if strings.Contains(t, v) {
			t = strings.ReplaceAll(t, v, "[redacted]")
		}
	}
	return t
}
