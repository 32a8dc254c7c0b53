package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/cmdkit"
)

// Output formats of -o.
const (
	outputTable = "table"
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

func validateOutput(format string, allowed ...string) error {
	return cmdkit.ValidateOutput(format, allowed...)
}

// writeData writes v as JSON or YAML.
func writeData(w io.Writer, format string, v any) error {
	switch format {
	case outputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case outputYAML:
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("writeData: format %q is not data", format)
}

// choice is a flag whose value is one of a few: a value outside them is
// refused when the flag is parsed, naming the ones it takes.
type choice struct {
	value   string
	allowed []string
}

func (c *choice) String() string { return c.value }
func (c *choice) Type() string   { return "string" }

func (c *choice) Set(v string) error {
	if err := validateOutput(v, c.allowed...); err != nil {
		return err
	}
	c.value = v
	return nil
}
