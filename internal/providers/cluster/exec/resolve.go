package exec

import (
	"context"
	"errors"
	"fmt"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/restconfig"
)

// NameField is the field of a fleet Cluster that names its platform
// cluster: a blue-green move points the entry at green through it.
var NameField = []string{"spec", "exec", "name"}

// Validate checks a fleet Cluster of provider exec, and makes a relative
// command path absolute against dir, the fleet file's folder.
func Validate(c *v1alpha1.Cluster, dir string) error {
	e := c.Spec.Exec
	if e == nil {
		return fmt.Errorf("cluster %s: spec.exec (name and command) is required with provider exec", c.Name)
	}
	if c.Spec.Local != nil {
		return fmt.Errorf("cluster %s: spec.local is for provider local, not exec", c.Name)
	}
	if err := names.Subdomain("exec cluster", e.Name); err != nil {
		return fmt.Errorf("cluster %s: spec.exec.name: %w", c.Name, err)
	}
	if len(e.Command) == 0 || e.Command[0] == "" {
		return fmt.Errorf("cluster %s: spec.exec.command is required: the program (and its arguments) that speaks docs/providers/exec.md", c.Name)
	}
	if strings.ContainsRune(e.Command[0], '/') && !filepath.IsAbs(e.Command[0]) && dir != "" {
		e.Command[0] = filepath.Join(dir, e.Command[0])
	}
	for op, d := range e.Timeouts {
		if !slices.Contains(cluster.Operations, op) {
			return fmt.Errorf("cluster %s: spec.exec.timeouts.%s: no such operation; use %s", c.Name, op, strings.Join(cluster.Operations, ", "))
		}
		if d.Duration <= 0 {
			return fmt.Errorf("cluster %s: spec.exec.timeouts.%s: %s is not a positive duration", c.Name, op, d.Duration)
		}
	}
	for k := range e.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.HasPrefix(k, "UPSHIFT_EXEC_") {
			return fmt.Errorf("cluster %s: spec.exec.env: %q is not a variable name you may set", c.Name, k)
		}
	}
	for k := range e.EnvSecretRefs {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.HasPrefix(k, "UPSHIFT_EXEC_") {
			return fmt.Errorf("cluster %s: spec.exec.envSecretRefs: %q is not a variable name you may set", c.Name, k)
		}
	}
	return nil
}

// New returns the provider of a fleet cluster; a command that cannot be
// found is an error here, before any step runs.
func New(c v1alpha1.Cluster) (*Provider, error) {
	e := c.Spec.Exec
	if e == nil || len(e.Command) == 0 {
		return nil, fmt.Errorf("cluster %s: spec.exec.command is required with provider exec", c.Name)
	}
	if _, err := osexec.LookPath(e.Command[0]); err != nil {
		return nil, fmt.Errorf("spec.exec.command %q cannot be run: %w (a relative path is taken from the fleet file's folder)", e.Command[0], err)
	}
	for k, ref := range e.EnvSecretRefs {
		// A hub puts the Secret's value in env (hub/credentials.go).
		if _, ok := e.Env[k]; !ok {
			return nil, fmt.Errorf("cluster %s: spec.exec.envSecretRefs.%s (Secret %s) is read by a hub; the CLI reads no Secrets: give spec.exec.env.%s", c.Name, k, ref.Name, k)
		}
	}
	p := &Provider{Command: slices.Clone(e.Command), Env: e.Env, Timeouts: map[string]time.Duration{}}
	for op, d := range e.Timeouts {
		p.Timeouts[op] = d.Duration
	}
	return p, nil
}

// Open resolves fleet clusters of provider exec. The API server is reached
// through spec.kubeconfig and spec.context when given, else through the
// kubeconfig and context the command's get answer names.
func Open(fleetmember.Env) (fleetmember.Resolver, error) {
	return func(c v1alpha1.Cluster) (*fleetmember.Member, error) {
		p, err := New(c)
		if err != nil {
			return nil, err
		}
		kubeconfig, kubeContext := c.Spec.Kubeconfig, c.Spec.Context
		if kubeconfig == "" {
			ctx, cancel := context.WithTimeout(context.Background(), p.timeout(cluster.OpGet))
			defer cancel()
			got, err := p.Get(ctx, c.Spec.Exec.Name)
			if err != nil {
				return nil, err
			}
			if got.Kubeconfig == "" {
				return nil, errors.New("set spec.kubeconfig (and spec.context), or have the exec command's get answer name kubeconfig and context: upshift never falls back to your current context for a cluster it upgrades")
			}
			if !filepath.IsAbs(got.Kubeconfig) {
				return nil, fmt.Errorf("the exec command's get answered kubeconfig %q; it must be an absolute path", got.Kubeconfig)
			}
			kubeconfig, kubeContext = got.Kubeconfig, got.Context
		}
		cfg, err := restconfig.FromKubeconfig(kubeconfig, kubeContext)
		if err != nil {
			return nil, err
		}
		return &fleetmember.Member{Provider: p, Name: c.Spec.Exec.Name, RESTConfig: cfg, Kubeconfig: kubeconfig, Context: kubeContext}, nil
	}, nil
}
