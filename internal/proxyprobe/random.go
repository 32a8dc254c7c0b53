package proxyprobe

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// Random runs clients concurrently, each a seeded random sequence of
// steps exchanges from the matrix on kept-alive connections (a new one
// only when an exchange leaves its own unusable). The same seed replays
// the same sequences. It returns every outcome.
func (p *Probe) Random(seed uint64, clients, steps int, exchanges []Exchange) ([]Outcome, error) {
	var (
		mu   sync.Mutex
		all  []Outcome
		errs []error
		wg   sync.WaitGroup
	)
	for client := range clients {
		rng := rand.New(rand.NewPCG(seed, uint64(client)))
		order := make([]Exchange, steps)
		for i := range order {
			order[i] = exchanges[rng.IntN(len(exchanges))]
		}
		wg.Go(func() {
			var c *Conn
			defer func() {
				if c != nil {
					_ = c.Close()
				}
			}()
			for step, ex := range order {
				if c == nil || c.Dead {
					if c != nil {
						_ = c.Close()
					}
					var err error
					if c, err = p.Dial(); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("client %d step %d: %w", client, step, err))
						mu.Unlock()
						return
					}
				}
				out := Outcome{Exchange: fmt.Sprintf("client %d step %d %s", client, step, ex.Name), Results: ex.Run(p, c)}
				mu.Lock()
				all = append(all, out)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return all, errs[0]
	}
	return all, nil
}
