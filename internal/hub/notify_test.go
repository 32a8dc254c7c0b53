package hub_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// receiver is a webhook endpoint that keeps the kinds it was sent.
type receiver struct {
	mu    sync.Mutex
	kinds []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var n struct {
		Kind string `json:"kind"`
		Run  string `json:"run"`
	}
	if json.Unmarshal(body, &n) == nil {
		rc.mu.Lock()
		rc.kinds = append(rc.kinds, n.Run+"/"+n.Kind)
		rc.mu.Unlock()
	}
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.kinds)
}

// TestHubNotifies: a run a hub drives posts its events to the run's
// sinks as the CLI does: one given by url, one whose URL is in a Secret
// marked for notifications (and kept out of the status). A sink given as
// a file of the hub's pod is refused with the way to go.
func TestHubNotifies(t *testing.T) {
	kubeconfig, _, c := upHub(t, "notify-hub")
	testfleet.Up(t, localfleet.Spec{Name: "notify-member", KubernetesVersion: toolchain.Latest().Minor})
	ctx := t.Context()
	plain, secret := &receiver{}, &receiver{}
	plainSrv, secretSrv := httptest.NewServer(plain), httptest.NewServer(secret)
	t.Cleanup(plainSrv.Close)
	t.Cleanup(secretSrv.Close)
	secretURL := secretSrv.URL + "/hooks/T000/B000/s3cr3t-path-of-the-hook"
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chat-hook", Namespace: "default", Labels: map[string]string{v1alpha1.LabelNotificationURL: "true"}},
		Data: map[string][]byte{"url": []byte(secretURL)}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "notify-member", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "notify-member"}, Group: "all"}}); err != nil {
		t.Fatal(err)
	}
	run := func(name string, sinks ...v1alpha1.NotificationSink) *v1alpha1.UpdateRun {
		return &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: toolchain.Latest().Minor},
				Notifications: sinks,
				Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}},
					AfterStageTasks: []v1alpha1.StageTask{{Type: v1alpha1.TaskTimedWait, Name: "soak", WaitTime: &metav1.Duration{Duration: time.Second}}}}}}}}
	}
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a")}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	if err := c.Create(ctx, run("from-file", v1alpha1.NotificationSink{Name: "file", URLFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run with a urlFile sink to be refused", replicas, func() bool {
		r, err := st.Get("from-file")
		return err == nil && r.Status.Phase == v1alpha1.PhaseFailed && strings.Contains(r.Status.Message, "a hub reads no files of its pod: give urlSecretRef")
	})

	if err := c.Create(ctx, run("notified", v1alpha1.NotificationSink{Name: "plain", URL: plainSrv.URL},
		v1alpha1.NotificationSink{Name: "chat", URLSecretRef: &v1alpha1.SecretKeyRef{Name: "chat-hook"}, Events: []string{v1alpha1.NotifyRunCompleted}})); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, st, replicas, "notified")
	waitFor(t, "the notifications", replicas, func() bool {
		return slices.Contains(plain.got(), "notified/"+v1alpha1.NotifyRunCompleted) && slices.Contains(secret.got(), "notified/"+v1alpha1.NotifyRunCompleted)
	})
	if got := plain.got(); !slices.Contains(got, "notified/"+v1alpha1.NotifyRunStarted) || !slices.Contains(got, "notified/"+v1alpha1.NotifyStageCompleted) {
		t.Errorf("the url sink got %v", got)
	}
	if got := secret.got(); !slices.Equal(got, []string{"notified/" + v1alpha1.NotifyRunCompleted}) {
		t.Errorf("the urlSecretRef sink, which wants RunCompleted only, got %v", got)
	}
	r, _ := st.Get("notified")
	status, _ := json.Marshal(r.Status)
	events, _ := st.Events("notified")
	audit, _ := json.Marshal(events)
	for what, text := range map[string]string{"status": string(status), "audit": string(audit), "log": replicas[0].output()} {
		if strings.Contains(text, "s3cr3t-path-of-the-hook") {
			t.Errorf("the %s holds the Secret's URL", what)
		}
	}
	if !strings.Contains(string(audit), "sink chat: RunCompleted delivered") {
		t.Errorf("the audit trail does not say the Secret's sink was notified:\n%s", audit)
	}
}
