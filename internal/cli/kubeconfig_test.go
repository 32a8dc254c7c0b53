package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestMergeKubeconfig(t *testing.T) {
	dir := t.TempDir()
	write := func(path, name string) {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "secret-" + name}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
		cfg.CurrentContext = name
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
	}
	src, target := filepath.Join(dir, "local"), filepath.Join(dir, "nested", "config")
	write(src, "dev")
	// A target that does not exist yet is created.
	t.Setenv("KUBECONFIG", target)
	if got, err := mergeKubeconfig(src, false); err != nil || got != target {
		t.Fatalf("merge into a new file: %q, %v", got, err)
	}
	write(src, "prod")
	if _, err := mergeKubeconfig(src, false); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Contexts["dev"] == nil || cfg.Contexts["prod"] == nil || cfg.CurrentContext != "prod" {
		t.Errorf("merged contexts %v, current %q; want dev and prod, current prod", cfg.Contexts, cfg.CurrentContext)
	}
	if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("merged kubeconfig mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	// Merging the same cluster again changes nothing and needs no --force.
	if _, err := mergeKubeconfig(src, false); err != nil {
		t.Errorf("merging the same cluster again: %v", err)
	}
	// A context of the same name that points elsewhere (a real "prod")
	// is not replaced without --force, and the file is left as it was.
	before, _ := os.ReadFile(target)
	other := filepath.Join(dir, "other-prod")
	write(other, "prod")
	otherCfg, _ := clientcmd.LoadFromFile(other)
	otherCfg.Clusters["prod"].Server = "https://prod.example.com:6443"
	if err := clientcmd.WriteToFile(*otherCfg, other); err != nil {
		t.Fatal(err)
	}
	if _, err := mergeKubeconfig(other, false); err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "cluster prod") {
		t.Errorf("overwriting another prod: %v", err)
	}
	if after, _ := os.ReadFile(target); string(after) != string(before) {
		t.Error("a refused merge changed the kubeconfig")
	}
	if _, err := mergeKubeconfig(other, true); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if cfg, _ := clientcmd.LoadFromFile(target); cfg.Clusters["prod"].Server != "https://prod.example.com:6443" {
		t.Errorf("--force did not replace prod: %s", cfg.Clusters["prod"].Server)
	}
}
