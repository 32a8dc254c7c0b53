package exec_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeStateEnv names the JSON file a fake CLI keeps its state in; each of
// its calls is appended to that file + ".calls".
const fakeStateEnv = "FAKE_CLI_STATE"

// fakeCall is one call of a fake CLI (this test binary under the CLI's
// name): it reads the state into st, logs the call, answers, and writes
// the state back.
func fakeCall(cli string, args []string, st any, answer func() int) int {
	path := os.Getenv(fakeStateEnv)
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, st)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if f, err := os.OpenFile(path+".calls", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintln(f, cli+" "+strings.Join(args, " "))
		_ = f.Close()
	}
	code := answer()
	out, _ := json.Marshal(st)
	_ = os.WriteFile(path, out, 0o600)
	return code
}

// withFakes puts fake clis (this test binary under each name) first on
// PATH, over state; it returns the state file and the calls made so far.
func withFakes(t *testing.T, state any, clis ...string) (path string, calls func() []string) {
	t.Helper()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, cli := range clis {
		if err := os.Symlink(exe, filepath.Join(dir, cli)); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := json.Marshal(state)
	path = filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(fakeStateEnv, path)
	return path, func() []string {
		data, _ := os.ReadFile(path + ".calls")
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}
}
