package azureemu_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

// contract is testdata/aks-2025-02-01.contract.json: facts of Azure's
// published AKS API, each operation naming the official example and the
// commit of Azure/azure-rest-api-specs it was read from.
type contract struct {
	Repository, Folder, APIVersion string
	Operations                     []struct {
		OperationID, Example, Commit, Method, Path, Model, Type string
		Statuses                                                []int
		Headers                                                 map[string][]string
		Required                                                []string
		Enums                                                   map[string][]string
	}
}

// models are the Go SDK's types, generated from the same spec, by the
// name the spec gives them.
var models = map[string]func() any{
	"ManagedCluster":                     func() any { return &armcontainerservice.ManagedCluster{} },
	"ManagedClusterUpgradeProfile":       func() any { return &armcontainerservice.ManagedClusterUpgradeProfile{} },
	"AgentPool":                          func() any { return &armcontainerservice.AgentPool{} },
	"AgentPoolListResult":                func() any { return &armcontainerservice.AgentPoolListResult{} },
	"AgentPoolUpgradeProfile":            func() any { return &armcontainerservice.AgentPoolUpgradeProfile{} },
	"MaintenanceConfigurationListResult": func() any { return &armcontainerservice.MaintenanceConfigurationListResult{} },
}

// TestEmulatorAnswersAsPublished sends each operation of the contract to
// the emulator over a real local cluster and checks the answer against
// Azure's published facts: its status among the operation's, the headers
// a long-running answer carries, the resource type, every required
// property present, enum values among the spec's, and no field the Go
// SDK's model (generated from the spec) does not know.
func TestEmulatorAnswersAsPublished(t *testing.T) {
	data, err := os.ReadFile("testdata/aks-2025-02-01.contract.json")
	if err != nil {
		t.Fatal(err)
	}
	var c contract
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != azureemu.APIVersion {
		t.Fatalf("the contract is of api-version %s, the emulator serves %s: read the facts again from the spec of the version served", c.APIVersion, azureemu.APIVersion)
	}
	testfleet.Up(t, localfleet.Spec{Name: "contract", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	emu := azureemu.New(testfleet.Fleet(t), "")
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	params := strings.NewReplacer("{subscriptionId}", azureemu.DefaultSubscription, "{resourceGroupName}", azureemu.AdoptGroup,
		"{resourceName}", "contract", "{agentPoolName}", "user")

	for _, op := range c.Operations {
		t.Run(op.OperationID, func(t *testing.T) {
			source := fmt.Sprintf("%s@%s %s/%s", c.Repository, op.Commit[:8], c.Folder, op.Example)
			req, _ := http.NewRequest(op.Method, srv.URL+params.Replace(op.Path)+"?api-version="+url.QueryEscape(c.APIVersion), nil)
			req.Header.Set("Authorization", "Bearer "+"contract-test")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var raw json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
				t.Fatalf("%s answered no JSON: %v", op.OperationID, err)
			}
			if !slices.Contains(op.Statuses, resp.StatusCode) {
				t.Fatalf("status %d, the spec gives %v (%s)\n%s", resp.StatusCode, op.Statuses, source, raw)
			}
			for _, h := range op.Headers[strconv.Itoa(resp.StatusCode)] {
				if u, err := url.Parse(resp.Header.Get(h)); err != nil || !u.IsAbs() {
					t.Errorf("a %d answer without an absolute %s header (%s)", resp.StatusCode, h, source)
				}
			}
			var body any
			_ = json.Unmarshal(raw, &body)
			for _, path := range op.Required {
				if missing := absent(body, strings.Split(path, ".")); missing != "" {
					t.Errorf("required %s is absent (at %s) (%s)", path, missing, source)
				}
			}
			if op.Type != "" {
				if m, _ := body.(map[string]any); !strings.EqualFold(fmt.Sprint(m["type"]), op.Type) {
					t.Errorf("type %v, the spec's is %s (%s)", m["type"], op.Type, source)
				}
			}
			for path, allowed := range op.Enums {
				for _, v := range values(body, strings.Split(path, ".")) {
					if !slices.Contains(allowed, fmt.Sprint(v)) {
						t.Errorf("%s is %v, not one of the spec's %v (%s)", path, v, allowed, source)
					}
				}
			}
			model := models[op.Model]
			if model == nil {
				t.Fatalf("no SDK model %s", op.Model)
			}
			if unknown := unknownFields(t, raw, model()); len(unknown) > 0 {
				t.Errorf("fields the SDK's %s does not know: %v", op.Model, unknown)
			}
		})
	}
}

// absent says where a path (a[] for each item of a list) finds nothing;
// "" when every item holds it.
func absent(v any, path []string) string {
	if len(path) == 0 {
		if v == nil {
			return "null"
		}
		return ""
	}
	key, list := strings.CutSuffix(path[0], "[]")
	m, ok := v.(map[string]any)
	if !ok || m[key] == nil {
		return path[0]
	}
	if !list {
		return absent(m[key], path[1:])
	}
	items, ok := m[key].([]any)
	if !ok || len(items) == 0 {
		return path[0] + " (no items)"
	}
	for i, item := range items {
		if where := absent(item, path[1:]); where != "" {
			return fmt.Sprintf("%s[%d].%s", key, i, where)
		}
	}
	return ""
}

// values are what a path finds, over every item of its lists.
func values(v any, path []string) []any {
	if len(path) == 0 {
		return []any{v}
	}
	key, list := strings.CutSuffix(path[0], "[]")
	m, ok := v.(map[string]any)
	if !ok || m[key] == nil {
		return nil
	}
	if !list {
		return values(m[key], path[1:])
	}
	var out []any
	items, _ := m[key].([]any)
	for _, item := range items {
		out = append(out, values(item, path[1:])...)
	}
	return out
}

// unknownFields decodes raw into the SDK's model and encodes it back:
// what the answer holds that the model lost is a field the spec does not
// define.
func unknownFields(t *testing.T, raw []byte, model any) []string {
	t.Helper()
	if err := json.Unmarshal(raw, model); err != nil {
		t.Fatalf("the SDK's model does not decode the answer: %v", err)
	}
	back, err := json.Marshal(model)
	if err != nil {
		t.Fatal(err)
	}
	var before, after any
	_ = json.Unmarshal(raw, &before)
	_ = json.Unmarshal(back, &after)
	var out []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		switch a := a.(type) {
		case map[string]any:
			bm, _ := b.(map[string]any)
			for k, v := range a {
				if v == nil {
					continue
				}
				if _, ok := bm[k]; !ok {
					out = append(out, path+k)
					continue
				}
				walk(path+k+".", v, bm[k])
			}
		case []any:
			bl, _ := b.([]any)
			for i, v := range a {
				if i < len(bl) {
					walk(fmt.Sprintf("%s%d.", path, i), v, bl[i])
				}
			}
		}
	}
	walk("", before, after)
	slices.Sort(out)
	return out
}
