package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
)

// Dynamic completion (`upshift completion bash|zsh|fish|powershell`,
// also as `kubectl upshift`): run names from the home or the hub the
// command's flags name, each with its phase; the clusters and stages of
// the run named; the kubeconfig's contexts for a hub's --context.

// completeRuns completes a RUN argument.
func (o *runOptions) completeRuns(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if err := o.openHub(cmd.Context()); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	runs, err := o.store().List()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []cobra.Completion
	for _, r := range runs {
		if strings.HasPrefix(r.Name, toComplete) {
			phase := r.Status.Phase
			if phase == "" {
				phase = "not started"
			}
			out = append(out, cobra.CompletionWithDesc(r.Name, phase))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeOfRun completes --cluster or --stage from the run named by the
// command's argument.
func (o *runOptions) completeOfRun(stages bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if err := o.openHub(cmd.Context()); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		run, err := o.store().Get(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		add := func(name, desc string) {
			if strings.HasPrefix(name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(name, desc))
			}
		}
		for _, st := range run.Status.Stages {
			if stages {
				add(st.Name, st.Phase)
				continue
			}
			for _, c := range st.Clusters {
				add(c.Name, "stage "+st.Name+": "+c.Phase)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeContexts completes a kubeconfig context (a hub's --context).
func completeContexts(kubeconfig *string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if kubeconfig != nil && *kubeconfig != "" {
			rules.ExplicitPath = *kubeconfig
		}
		cfg, err := rules.Load()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		for name, c := range cfg.Contexts {
			if strings.HasPrefix(name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(name, "cluster "+c.Cluster))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
