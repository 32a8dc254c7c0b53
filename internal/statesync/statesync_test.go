package statesync_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/statesync"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

// TestCopyAndDrift copies a blue cluster's app to an empty green cluster at
// the next version, checks the app runs and is served there, and that the
// drift report then finds nothing, and later exactly what was changed.
func TestCopyAndDrift(t *testing.T) {
	ctx := t.Context()
	clusters := map[string]*localfleet.Cluster{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, v := range map[string]string{"blue": toolchain.Previous().Minor, "green": toolchain.Latest().Minor} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := testfleet.Up(t, localfleet.Spec{Name: name, KubernetesVersion: v, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
			mu.Lock()
			clusters[name] = c
			mu.Unlock()
		}()
	}
	wg.Wait()
	clients := map[string]kubernetes.Interface{}
	dyn := map[string]dynamic.Interface{}
	for name, c := range clusters {
		cfg, err := c.RESTConfig()
		if err != nil {
			t.Fatal(err)
		}
		clients[name] = kubernetes.NewForConfigOrDie(cfg)
		dyn[name] = dynamic.NewForConfigOrDie(cfg)
	}
	blue := clients["blue"]
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.example", Replicas: 3, MinAvailable: 2}
	if err := app.Deploy(ctx, blue); err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(blue.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "fast"}}, metav1.CreateOptions{}))
	must(blue.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "hunter2-original"}}, metav1.CreateOptions{}))
	must(blue.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}))
	must(blue.RbacV1().Roles("shop").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}))
	must(blue.RbacV1().RoleBindings("shop").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "app-reader"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app", Namespace: "shop"}}}, metav1.CreateOptions{}))
	if err := app.WaitAvailable(ctx, blue, 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	res, err := statesync.Copy(ctx, dyn["blue"], dyn["green"], statesync.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copied %d objects: %v", res.Applied, res.ByKind)
	for kind, want := range map[string]int{"namespaces": 2, // default and shop
		"deployments": 1, "services": 1, "ingresses": 1, "poddisruptionbudgets": 1, "configmaps": 1, "secrets": 1, "serviceaccounts": 1, "roles": 1, "rolebindings": 1} {
		if res.ByKind[kind] != want {
			t.Errorf("copied %d %s, want %d (%v)", res.ByKind[kind], kind, want, res.ByKind)
		}
	}
	green := clients["green"]
	if err := app.WaitAvailable(ctx, green, 2*time.Minute); err != nil {
		t.Fatalf("the app does not run on green: %v", err)
	}
	if _, err := ingress.WaitServed(ctx, clusters["green"].IngressURL(), app.Host, 3, time.Minute); err != nil {
		t.Fatalf("green does not serve the app: %v", err)
	}
	sec, err := green.CoreV1().Secrets("shop").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || string(sec.Data["password"]) != "hunter2-original" {
		t.Errorf("secret on green: %v", err)
	}
	drift, err := statesync.Diff(ctx, dyn["blue"], dyn["green"], statesync.Options{})
	if err != nil || len(drift) != 0 {
		t.Fatalf("drift right after the copy: %+v, %v", drift, err)
	}

	// Blue moves on; green loses a service: both show, without values.
	cm, _ := blue.CoreV1().ConfigMaps("shop").Get(ctx, "settings", metav1.GetOptions{})
	cm.Data["mode"] = "safe"
	must(blue.CoreV1().ConfigMaps("shop").Update(ctx, cm, metav1.UpdateOptions{}))
	sec, _ = blue.CoreV1().Secrets("shop").Get(ctx, "db", metav1.GetOptions{})
	sec.Data["password"] = []byte("rotated-secret-value")
	must(blue.CoreV1().Secrets("shop").Update(ctx, sec, metav1.UpdateOptions{}))
	if err := green.CoreV1().Services("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	drift, err = statesync.Diff(ctx, dyn["blue"], dyn["green"], statesync.Options{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, d := range drift {
		found[d.Kind+" "+d.Namespace+"/"+d.Name] = d.Problem
		if strings.Contains(d.Problem, "rotated") || strings.Contains(d.Problem, "safe") {
			t.Errorf("the drift report shows a value: %+v", d)
		}
	}
	want := map[string]string{"configmaps shop/settings": "differs at data.mode", "secrets shop/db": "differs at data.password", "services shop/web": "missing on the new cluster"}
	for k, v := range want {
		if found[k] != v {
			t.Errorf("drift %s = %q, want %q (all: %+v)", k, found[k], v, drift)
		}
	}
	if len(drift) != len(want) {
		t.Errorf("drift = %+v, want exactly %v", drift, want)
	}
}
