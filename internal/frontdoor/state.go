package frontdoor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"time"

	"upshift.dev/upshift/internal/atomicfile"
)

// saveState writes every route with its weights to the state file, if
// any (temporary file, fsync, rename, fsync of the folder); callers hold
// g.mu.
func (g *Gateway) saveState() error {
	if g.cfg.StateFile == "" {
		return nil
	}
	routes := []Route{}
	for host, rt := range *g.routes.Load() {
		if host != rt.host {
			continue
		}
		r, _ := g.Route(host)
		routes = append(routes, r)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Host < routes[j].Host })
	data, err := json.MarshalIndent(routes, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(g.cfg.StateFile, data, 0o600); err != nil {
		return fmt.Errorf("saving the gateway's routes: %w", err)
	}
	return nil
}

// ErrCorruptState says the state file cannot be used; the gateway does
// not start on it, and never falls back to its configuration's routes on
// its own, which may send users to a retired cluster.
var ErrCorruptState = errors.New("gateway state file cannot be used")

// initialRoutes returns the routes to start with: the state file's when
// it exists, else the configuration's.
func initialRoutes(cfg Config) ([]Route, error) {
	if cfg.StateFile == "" {
		return cfg.Routes, nil
	}
	routes, err := loadState(cfg.StateFile)
	if errors.Is(err, ErrCorruptState) && cfg.ResetState {
		aside := fmt.Sprintf("%s.corrupt-%s", cfg.StateFile, time.Now().UTC().Format("20060102T150405Z"))
		if renameErr := os.Rename(cfg.StateFile, aside); renameErr != nil {
			return nil, fmt.Errorf("--reset-state: moving %s aside: %w", cfg.StateFile, renameErr)
		}
		slog.Warn("gateway state file reset: serving the configuration's routes", "corrupt", aside, "error", err)
		return cfg.Routes, nil
	}
	if err != nil {
		return nil, err
	}
	if routes == nil {
		slog.Info("gateway state file does not exist yet: serving the configuration's routes", "stateFile", cfg.StateFile)
		return cfg.Routes, nil
	}
	slog.Info("gateway routes restored from the state file", "stateFile", cfg.StateFile, "routes", len(routes))
	restored := map[string]bool{}
	for _, r := range routes {
		restored[r.Host] = true
		slog.Info("gateway route restored", "host", r.Host, "weights", r.Weights().String())
	}
	for _, r := range cfg.Routes {
		if !restored[r.Host] {
			// The state file wins: say so, or a route the user just
			// wrote into the configuration silently does not exist.
			slog.Warn("gateway route of the configuration not served: the state file holds the routes as last set, without it; add it with PUT /routes/{host}, or start with a state file that holds it",
				"host", r.Host, "stateFile", cfg.StateFile)
		}
	}
	return routes, nil
}

// loadState reads saved routes; nil when there is no state file yet.
func loadState(path string) ([]Route, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	corrupt := func(why error) error {
		return fmt.Errorf("%w: %s: %v; fix it, or start with --reset-state to set it aside and serve the configuration's routes (check they do not name a retired cluster)", ErrCorruptState, path, why)
	}
	routes := []Route{}
	if err := json.Unmarshal(data, &routes); err != nil {
		return nil, corrupt(err)
	}
	if routes == nil {
		return nil, corrupt(errors.New("it holds null, not a list of routes"))
	}
	seen := map[string]bool{}
	for _, r := range routes {
		if err := r.Validate(); err != nil {
			return nil, corrupt(err)
		}
		if seen[r.Host] {
			return nil, corrupt(fmt.Errorf("route %s is given twice", r.Host))
		}
		seen[r.Host] = true
	}
	return routes, nil
}
