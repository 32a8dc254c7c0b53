package bench

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/internal/testfleet"
)

// BenchmarkCrashCampaign SIGKILLs `upshift run` at a random moment of
// each of 100 in-place runs (UPSHIFT_CRASH_ROUNDS for another count; a
// fresh 5-node cluster each, 1.36 → 1.37) and resumes it; every round
// must end with nothing lost and nothing done twice, counted from the
// cluster (see testfleet.CrashCampaign). It prints where the kills fell.
func BenchmarkCrashCampaign(b *testing.B) {
	crashCampaign(b, "in-place", 100, func(rounds int) []testfleet.CrashRound {
		return testfleet.CrashCampaign(b, rounds, 7*time.Second)
	})
}

// BenchmarkBlueGreenCrashCampaign SIGKILLs `upshift bluegreen` at a random
// moment of each of 40 blue-green moves under load (UPSHIFT_CRASH_ROUNDS
// for another count; a fresh blue behind a gateway each, 1.36 → 1.37) and
// resumes it; every round must end with one green built once, blue
// retired, traffic on green and no failed request (see
// testfleet.BlueGreenCrashCampaign).
func BenchmarkBlueGreenCrashCampaign(b *testing.B) {
	crashCampaign(b, "blue-green", 40, func(rounds int) []testfleet.CrashRound {
		return testfleet.BlueGreenCrashCampaign(b, rounds, 11*time.Second)
	})
}

func crashCampaign(b *testing.B, kind string, rounds int, campaign func(rounds int) []testfleet.CrashRound) {
	if s := os.Getenv("UPSHIFT_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("UPSHIFT_CRASH_ROUNDS=%q: want a count", s)
		}
		rounds = n
	}
	for range b.N {
		start := time.Now()
		result := campaign(rounds)
		took := time.Since(start)
		killed := 0
		where := map[string]int{}
		for _, r := range result {
			if !r.Killed {
				where["(completed before the kill)"]++
				continue
			}
			killed++
			step := r.Step
			if step == "" {
				step = "(between steps)"
			}
			where[step]++
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(where)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, where[k]))
		}
		b.ReportMetric(float64(killed), "kills")
		b.ReportMetric(float64(rounds-killed), "unkilled")
		fmt.Printf("%s crash campaign: %d rounds in %s, %d SIGKILLs and resumes, every round ended right; kills by step: %s\n",
			kind, rounds, took.Round(time.Second), killed, strings.Join(parts, ", "))
	}
}
