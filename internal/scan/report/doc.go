// Package report is the shape of a scan's result — findings with a
// severity, where each was seen and how to fix it — and its renderings:
// table, JSON, YAML, SARIF 2.1.0 (code scanning) and JUnit XML (CI test
// reports), plus the exit code a pipeline branches on.
package report
