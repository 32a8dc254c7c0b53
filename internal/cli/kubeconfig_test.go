package cli

import (
	"os"
	"path/filepath"
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
	t.Setenv("KUBECONFIG", target+string(os.PathListSeparator)+filepath.Join(dir, "other"))
	if got, err := mergeKubeconfig(src); err != nil || got != target {
		t.Fatalf("merge into a new file: %q, %v", got, err)
	}
	write(src, "prod")
	if _, err := mergeKubeconfig(src); err != nil {
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
}
