package azurespec

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
)

// sdkModels are the Go SDK's types, generated from the AKS spec, by the
// name the spec gives them.
var sdkModels = map[string]func() any{
	"ManagedCluster":                     func() any { return &armcontainerservice.ManagedCluster{} },
	"ManagedClusterUpgradeProfile":       func() any { return &armcontainerservice.ManagedClusterUpgradeProfile{} },
	"AgentPool":                          func() any { return &armcontainerservice.AgentPool{} },
	"AgentPoolListResult":                func() any { return &armcontainerservice.AgentPoolListResult{} },
	"AgentPoolUpgradeProfile":            func() any { return &armcontainerservice.AgentPoolUpgradeProfile{} },
	"MaintenanceConfiguration":           func() any { return &armcontainerservice.MaintenanceConfiguration{} },
	"MaintenanceConfigurationListResult": func() any { return &armcontainerservice.MaintenanceConfigurationListResult{} },
	"KubernetesVersionListResult":        func() any { return &armcontainerservice.KubernetesVersionListResult{} },
	"CredentialResults":                  func() any { return &armcontainerservice.CredentialResults{} },
}

// CheckRequest holds a request to its operation: the api-version of the
// contract, path parameters among the spec's values, and a body of the
// operation's model with its required properties and nothing Azure does
// not know or only writes itself.
func (c *Contract) CheckRequest(op *Operation, params map[string]string, query url.Values, body []byte) []string {
	var out []string
	if v := query.Get("api-version"); v != c.APIVersion {
		out = append(out, fmt.Sprintf("api-version %q, the contract's is %s", v, c.APIVersion))
	}
	for name, allowed := range op.Params {
		if !slices.Contains(allowed, params[name]) {
			out = append(out, fmt.Sprintf("path parameter %s is %q, not one of the spec's %v", name, params[name], allowed))
		}
	}
	if op.Request == nil {
		return out
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return append(out, "no body: the spec requires a "+op.Request.Model)
	}
	return append(out, c.checkBody(op.Request, body, true)...)
}

// CheckAnswer holds an answer to its operation: a status among the
// operation's (or an ARM error body), the headers a long-running answer
// carries, and a body of the operation's model with its resource type,
// required properties and enum values.
func (c *Contract) CheckAnswer(op *Operation, status int, header http.Header, body []byte) []string {
	if !slices.Contains(op.Statuses, status) {
		if status >= 400 {
			return checkError(status, body)
		}
		return []string{fmt.Sprintf("status %d, the spec gives %v", status, op.Statuses)}
	}
	var out []string
	for _, h := range op.Headers[strconv.Itoa(status)] {
		if u, err := url.Parse(header.Get(h)); err != nil || !u.IsAbs() {
			out = append(out, fmt.Sprintf("a %d answer without an absolute %s header", status, h))
		}
	}
	if op.Answer == nil || status == http.StatusNoContent || status == http.StatusAccepted && len(strings.TrimSpace(string(body))) == 0 {
		return out
	}
	return append(out, c.checkBody(op.Answer, body, false)...)
}

// checkError holds an error answer to ARM's error shape, the spec's
// "default" answer of every operation: {"error": {"code", "message"}}.
func checkError(status int, body []byte) []string {
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		return []string{fmt.Sprintf("a %d answer that is not ARM's error body {\"error\": {\"code\", \"message\"}}: %.200s", status, body)}
	}
	return nil
}

func (c *Contract) checkBody(b *Body, raw []byte, request bool) []string {
	var body any
	if err := json.Unmarshal(raw, &body); err != nil {
		return []string{fmt.Sprintf("a body that is not JSON: %v", err)}
	}
	var out []string
	if b.Type != "" {
		if m, _ := body.(map[string]any); !strings.EqualFold(fmt.Sprint(m["type"]), b.Type) {
			out = append(out, fmt.Sprintf("type %v, the spec's is %s", m["type"], b.Type))
		}
	}
	for _, path := range b.Required {
		if missing := absent(body, strings.Split(path, ".")); missing != "" {
			out = append(out, fmt.Sprintf("required %s is absent (at %s)", path, missing))
		}
	}
	for path, allowed := range b.Enums {
		for _, v := range values(body, strings.Split(path, ".")) {
			if !slices.Contains(allowed, fmt.Sprint(v)) {
				out = append(out, fmt.Sprintf("%s is %v, not one of the spec's %v", path, v, allowed))
			}
		}
	}
	if model := sdkModels[b.Model]; model != nil {
		unknown, err := unknownFields(raw, model())
		if err != nil {
			return append(out, fmt.Sprintf("the SDK's %s does not decode it: %v", b.Model, err))
		}
		for _, f := range unknown {
			out = append(out, fmt.Sprintf("%s is no property of the SDK's %s", f, b.Model))
		}
		return out
	}
	if b.Model == "" {
		return out // a resource the facts check by type and required properties alone
	}
	return append(out, c.walk(b.Model, body, "", request)...)
}

// walk holds a value to a model written out as facts: no property the
// model lacks, each of its type, enum and range, and, in a request, none
// that only Azure writes.
func (c *Contract) walk(model string, v any, at string, request bool) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s is %s, the spec's %s is an object", name(at), kind(v), model)}
	}
	def := c.Models[model]
	var out []string
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val, path := m[k], at+k
		f, known := def.Fields[k]
		if !known {
			out = append(out, fmt.Sprintf("%s is no property of %s in the spec", path, model))
			continue
		}
		if val == nil {
			continue
		}
		if request && f.ReadOnly {
			out = append(out, fmt.Sprintf("%s is read-only in the spec: Azure writes it, a client does not send it", path))
		}
		out = append(out, c.field(f, val, path, request)...)
	}
	return out
}

func (c *Contract) field(f Field, v any, path string, request bool) []string {
	switch f.Type {
	case "array":
		items, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s is %s, the spec's is a list", path, kind(v))}
		}
		var out []string
		for i, item := range items {
			out = append(out, c.field(Field{Ref: f.Ref, Enum: f.Enum}, item, fmt.Sprintf("%s[%d]", path, i), request)...)
		}
		return out
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s is %s, the spec's is an object of strings", path, kind(v))}
		}
		for k, s := range m {
			if _, ok := s.(string); !ok {
				return []string{fmt.Sprintf("%s.%s is %s, the spec's is a string", path, k, kind(s))}
			}
		}
		return nil
	case "string":
		s, ok := v.(string)
		if !ok {
			return []string{fmt.Sprintf("%s is %s, the spec's is a string", path, kind(v))}
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return []string{fmt.Sprintf("%s is %q, not one of the spec's %v", path, s, f.Enum)}
		}
		return nil
	case "integer":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) {
			return []string{fmt.Sprintf("%s is %s, the spec's is an integer", path, kind(v))}
		}
		if f.Min != nil && n < *f.Min || f.Max != nil && n > *f.Max {
			return []string{fmt.Sprintf("%s is %v, out of the spec's range %v to %v", path, n, deref(f.Min), deref(f.Max))}
		}
		return nil
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []string{fmt.Sprintf("%s is %s, the spec's is a boolean", path, kind(v))}
		}
		return nil
	}
	if f.Ref != "" {
		return c.walk(f.Ref, v, path+".", request)
	}
	if len(f.Enum) > 0 {
		if s, _ := v.(string); !slices.Contains(f.Enum, s) {
			return []string{fmt.Sprintf("%s is %v, not one of the spec's %v", path, v, f.Enum)}
		}
	}
	return nil
}

func deref(p *float64) any {
	if p == nil {
		return "any"
	}
	return *p
}

func name(at string) string {
	if at == "" {
		return "the body"
	}
	return strings.TrimSuffix(at, ".")
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// absent says where a path finds nothing; "" when it is there. a[] is
// each item of list a: every item must hold the rest of the path (a list
// that is absent or empty holds it; say "a" to require the list).
func absent(v any, path []string) string {
	if len(path) == 0 {
		if v == nil {
			return "null"
		}
		return ""
	}
	key, list := strings.CutSuffix(path[0], "[]")
	m, ok := v.(map[string]any)
	if !ok {
		return path[0]
	}
	if m[key] == nil {
		if list {
			return ""
		}
		return path[0]
	}
	if !list {
		return absent(m[key], path[1:])
	}
	items, ok := m[key].([]any)
	if !ok {
		return path[0] + " (not a list)"
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
// what raw holds that the model lost is a property the spec does not
// define.
func unknownFields(raw []byte, model any) ([]string, error) {
	if err := json.Unmarshal(raw, model); err != nil {
		return nil, err
	}
	back, err := json.Marshal(model)
	if err != nil {
		return nil, err
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
	return out, nil
}
