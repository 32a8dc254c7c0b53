package exitcode

// Exit codes.
const (
	OK      = 0 // done
	Failed  = 1 // the operation failed
	Usage   = 2 // bad input: nothing was changed
	Timeout = 3 // a wait ran out of time

	// Scans: the most severe applies.
	Deprecated   = 4 // deprecated APIs, none removed in the target
	Removed      = 5 // APIs removed in the target version
	InputsFailed = 6 // some input could not be read; nothing worse found
	Readiness    = 7 // readiness findings at or above --fail-on

	// Reports.
	NotCompliant = 8 // the compliance report finds a cluster not compliant
	NotKnown     = 9 // the compliance report cannot know of a cluster, and finds none not compliant

	// Runs.
	Stopped    = 10 // the run was stopped before it ended
	RolledBack = 11 // a blue-green run's traffic went back to blue

	// Plans.
	DrainBlocked = 12 // plan --simulate predicts a node's drain that will not finish
)
