package azurespec

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

//go:embed facts/*.json
var facts embed.FS

// Contract is the facts of one Azure REST API at one api-version.
type Contract struct {
	About      string `json:"about"`
	Repository string `json:"repository"`
	// Folder or Spec says where in Repository the facts were read.
	Folder     string              `json:"folder"`
	Spec       string              `json:"spec"`
	Commit     string              `json:"commit"`
	APIVersion string              `json:"apiVersion"`
	Namespace  string              `json:"namespace"`
	Operations []Operation         `json:"operations"`
	Models     map[string]ModelDef `json:"models"`
}

// Operation is one operation of the spec.
type Operation struct {
	OperationID string `json:"operationId"`
	// Example and Commit name the official example read, when one was.
	Example string `json:"example"`
	Commit  string `json:"commit"`
	Method  string `json:"method"`
	// Path is the spec's path template: {name} is a parameter.
	Path string `json:"path"`
	// Params are the values a path parameter may take, where the spec
	// gives an enum.
	Params   map[string][]string `json:"params"`
	Statuses []int               `json:"statuses"`
	// StatusesFrom says where the statuses were read when no example was.
	StatusesFrom string `json:"statusesFrom"`
	// Headers an answer of a status carries (the long-running ones).
	Headers map[string][]string `json:"headers"`
	Request *Body               `json:"request"`
	Answer  *Body               `json:"answer"`
}

// Body is what the spec says of a request's or an answer's body.
type Body struct {
	Model string `json:"model"`
	// Type is the resource type an answer names.
	Type string `json:"type"`
	// Required are property paths (a[] for each item of a list) the
	// spec marks required or the example always holds.
	Required []string `json:"required"`
	// Enums are the values a property path may hold.
	Enums map[string][]string `json:"enums"`
}

// ModelDef is a model written out as facts: every property the spec
// defines.
type ModelDef struct {
	Fields map[string]Field `json:"fields"`
}

// Field is one property: its JSON type (string, integer, boolean, map,
// array, object), the model it holds (of each item for an array), its
// enum and range, and whether only Azure writes it.
type Field struct {
	Type     string   `json:"type"`
	Ref      string   `json:"ref"`
	Enum     []string `json:"enum"`
	Min      *float64 `json:"min"`
	Max      *float64 `json:"max"`
	ReadOnly bool     `json:"readOnly"`
}

// Source names where an operation's facts were read: the spec (its
// statuses and models) and the official example, each at its commit.
func (c *Contract) Source(op *Operation) string {
	short := func(commit string) string { return commit[:min(8, len(commit))] }
	folder := c.Folder
	var parts []string
	if c.Spec != "" {
		folder = c.Spec[:strings.LastIndex(c.Spec, "/")]
		parts = append(parts, fmt.Sprintf("%s@%s %s", c.Repository, short(c.Commit), c.Spec))
	}
	switch {
	case op.Example != "" && op.Commit != "":
		parts = append(parts, fmt.Sprintf("%s@%s %s/%s", c.Repository, short(op.Commit), folder, op.Example))
	case op.StatusesFrom != "":
		parts = append(parts, fmt.Sprintf("%s %s, statuses from %s", c.Repository, folder, op.StatusesFrom))
	case c.Spec == "":
		parts = append(parts, c.Repository+" "+folder)
	}
	return strings.Join(parts, "; ")
}

// Load reads the contract of a facts file (aks-2025-02-01, for one).
func Load(name string) (*Contract, error) {
	data, err := facts.ReadFile("facts/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("no facts %s: %w", name, err)
	}
	var c Contract
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a misspelt fact would check nothing
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("facts %s: %w", name, err)
	}
	for i := range c.Operations {
		op := &c.Operations[i]
		if !slices.Contains([]string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodPost, http.MethodDelete}, op.Method) || len(op.Statuses) == 0 {
			return nil, fmt.Errorf("facts %s: operation %s has no method or statuses", name, op.OperationID)
		}
		for _, b := range []*Body{op.Request, op.Answer} {
			if b != nil && b.Model != "" && sdkModels[b.Model] == nil && c.Models[b.Model].Fields == nil {
				return nil, fmt.Errorf("facts %s: operation %s names model %s, which is neither an SDK model nor written out", name, op.OperationID, b.Model)
			}
		}
	}
	return &c, nil
}

// All are the contracts of every Azure API upshift speaks.
func All() ([]*Contract, error) {
	var out []*Contract
	for _, name := range []string{"aks-2025-02-01", "trafficmanager-2022-04-01", "dns-2018-05-01", "frontdoor-2025-06-01"} {
		c, err := Load(name)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Match finds the operation a method and path are: literal segments
// compare as ARM compares them, without case; the operation with the
// most literal segments wins. It also gives the path's parameters.
func (c *Contract) Match(method, path string) (*Operation, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var best *Operation
	var bestParams map[string]string
	bestLiterals := -1
	for i := range c.Operations {
		op := &c.Operations[i]
		if op.Method != method {
			continue
		}
		tmpl := strings.Split(strings.Trim(op.Path, "/"), "/")
		if len(tmpl) != len(segs) {
			continue
		}
		params, literals, ok := map[string]string{}, 0, true
		for j, t := range tmpl {
			if name, isParam := strings.CutPrefix(t, "{"); isParam {
				params[strings.TrimSuffix(name, "}")] = segs[j]
				continue
			}
			if !strings.EqualFold(t, segs[j]) {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals {
			best, bestParams, bestLiterals = op, params, literals
		}
	}
	return best, bestParams
}

// covers says whether a path lies in the contract's resource provider
// namespace, so that a request there must be one of its operations.
func (c *Contract) covers(path string) bool {
	return strings.Contains(strings.ToLower(path), "/providers/"+strings.ToLower(c.Namespace))
}
