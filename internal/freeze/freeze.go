package freeze

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// LabelRun names the run that owns a freeze.
const LabelRun = "upshift.dev/freeze-run"

// Identities are the deployers a freeze stops.
type Identities struct {
	Users  []string
	Groups []string
	// ServiceAccounts as namespace/name.
	ServiceAccounts []string
}

func (id Identities) usernames() ([]string, error) {
	names := append([]string{}, id.Users...)
	for _, sa := range id.ServiceAccounts {
		ns, name, ok := strings.Cut(sa, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("service account %q: write namespace/name", sa)
		}
		names = append(names, "system:serviceaccount:"+ns+":"+name)
	}
	sort.Strings(names)
	return names, nil
}

// PolicyName is the name of a run's policy and binding.
func PolicyName(run string) string { return "upshift-freeze-" + run }

func celList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// Message is what a frozen deployer is told.
func Message(run string) string {
	return fmt.Sprintf("deployments to this cluster are frozen by upshift run %s while it moves to a new cluster; deploy again after the traffic switch or rollback", run)
}

// Apply freezes the identities' writes for run, and returns once the API
// server enforces it (checked with a server-side dry run as one of them).
// Applying the same freeze again is a no-op.
func Apply(ctx context.Context, cfg *rest.Config, run string, who Identities) error {
	users, err := who.usernames()
	if err != nil {
		return err
	}
	if len(users) == 0 && len(who.Groups) == 0 {
		return errors.New("a freeze needs at least one deployer identity (users, groups or service accounts)")
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	labels := map[string]string{LabelRun: run}
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName(run), Labels: labels},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete},
					Rule:       admissionv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf("!(request.userInfo.username in %s || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in %s)))", celList(users), celList(who.Groups)),
				Message:    Message(run),
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName(run), Labels: labels},
		Spec:       admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: PolicyName(run), ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}},
	}
	if _, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the freeze policy: %w", err)
	}
	if _, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the freeze binding: %w", err)
	}
	return waitEnforced(ctx, cfg, run, users, who.Groups, true)
}

// Lift removes run's freeze and returns once writes are allowed again.
func Lift(ctx context.Context, cfg *rest.Config, run string, who Identities) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, PolicyName(run), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the freeze binding: %w", err)
	}
	if err := client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, PolicyName(run), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the freeze policy: %w", err)
	}
	users, err := who.usernames()
	if err != nil {
		return err
	}
	return waitEnforced(ctx, cfg, run, users, who.Groups, false)
}

// Active lists the runs that hold a freeze on the cluster.
func Active(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	list, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(ctx, metav1.ListOptions{LabelSelector: LabelRun})
	if err != nil {
		return nil, err
	}
	var runs []string
	for _, p := range list.Items {
		runs = append(runs, p.Labels[LabelRun])
	}
	sort.Strings(runs)
	return runs, nil
}

// waitEnforced dry-runs a write as a frozen identity until the API server
// denies it (frozen) or allows it (lifted): policies take a moment to load.
func waitEnforced(ctx context.Context, cfg *rest.Config, run string, users, groups []string, frozen bool) error {
	// The probe is a frozen identity that RBAC lets through (system:masters),
	// so only the freeze can deny it, whatever rights the deployer has.
	probe := rest.CopyConfig(cfg)
	probe.Impersonate = rest.ImpersonationConfig{UserName: "upshift-freeze-probe", Groups: append(append([]string{}, groups...), "system:masters")}
	if len(users) > 0 {
		probe.Impersonate = rest.ImpersonationConfig{UserName: users[0], Groups: []string{"system:masters"}}
	}
	client, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "upshift-freeze-probe-", Namespace: metav1.NamespaceDefault}}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := client.CoreV1().ConfigMaps(metav1.NamespaceDefault).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		denied := err != nil && strings.Contains(err.Error(), "frozen by upshift run "+run)
		if denied == frozen {
			return nil
		}
		if time.Now().After(deadline) {
			state := "enforced"
			if !frozen {
				state = "lifted"
			}
			return fmt.Errorf("the freeze of run %s was not %s within a minute (last answer: %v)", run, state, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
