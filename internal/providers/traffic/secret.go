package traffic

import (
	"fmt"
	"os"
	"strings"
)

// ReadSecret reads a secret from its file (trimmed), naming the field
// that gave the path in any error; never the secret itself.
func ReadSecret(path, field string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required", field)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", field, path)
	}
	return s, nil
}
