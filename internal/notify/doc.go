// Package notify posts a run's events to webhooks: run started, stage
// done, approval needed (with the command that gives it), step failed,
// rolled back, run completed or failed; as a plain JSON document, a Slack
// message or a Microsoft Teams card. Sending never holds the run up: events
// queue, delivery is retried with backoff in the background, and each
// delivery or give-up is written to the run's audit log. A sink's URL,
// which often carries its secret, is never written anywhere.
package notify
