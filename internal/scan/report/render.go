package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Formats lists what Write renders.
var Formats = []string{"table", "json", "yaml", "sarif", "junit", "policyreport"}

// Write renders the report in format.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "table", "":
		return r.table(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "yaml":
		data, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	case "sarif":
		return r.sarif(w)
	case "junit":
		return r.junit(w)
	case "policyreport":
		return r.policyReports(w, time.Now())
	}
	return fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// SummaryLine is the one-line account people read first.
func (r *Report) SummaryLine() string {
	s := r.Summary
	if r.Scan == "apis" {
		where := "in " + r.TargetVersion
		for _, f := range r.Findings {
			if f.Component != "" && f.BlocksTarget {
				where += " or in an add-on's target" // --target cert-manager=1.6 blocks too
				break
			}
		}
		line := fmt.Sprintf("%d finding(s): %d removed %s (blocking), %d deprecated; %d input(s) could not be read",
			len(r.Findings), s.Blocking, where, len(r.Findings)-s.Blocking, s.InputsFailed)
		if len(r.Skipped) > 0 {
			line += fmt.Sprintf("; %d document(s) skipped as no Kubernetes objects (-v lists them)", len(r.Skipped))
		}
		return line
	}
	return fmt.Sprintf("%d finding(s): %d error(s), %d warning(s), %d info; %d input(s) could not be read",
		len(r.Findings), s.Errors, s.Warnings, s.Infos, s.InputsFailed)
}

func (r *Report) table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	switch {
	case len(r.Findings) == 0:
		// No header over an empty table: the summary line says it all.
	case r.Scan == "apis":
		fmt.Fprintln(tw, "SEVERITY\tOBJECT\tAPI VERSION\tDEPRECATED\tREMOVED\tREPLACEMENT\tSOURCE\tCONFIDENCE")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Object(), f.APIVersion, dash(f.release(f.DeprecatedIn)), dash(f.release(f.RemovedIn)), dash(f.Replacement), clusterSource(f), dash(f.Confidence))
		}
	default:
		fmt.Fprintln(tw, "SEVERITY\tCHECK\tOBJECT\tSOURCE\tMESSAGE\tFIX")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Check, f.Object(), clusterSource(f), f.Message, f.Fix)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "could not read: %s\n", e)
	}
	_, err := fmt.Fprintln(w, r.SummaryLine())
	return err
}

func clusterSource(f Finding) string {
	if f.Cluster != "" {
		return f.Cluster + ": " + f.Source
	}
	return f.Source
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// SARIF 2.1.0, the subset code-scanning tools read.
type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region *struct {
		StartLine int `json:"startLine"`
	} `json:"region,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

func (r *Report) sarif(w io.Writer) error {
	// Empty lists are written as [], never null: SARIF 2.1.0 wants arrays.
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "upshift", InformationURI: "https://upshift.dev", Rules: []sarifRule{}}}, Results: []sarifResult{}}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if !seen[f.Check] {
			seen[f.Check] = true
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: f.Check, ShortDescription: sarifMessage{Text: checkTitle(f.Check)}})
		}
		res := sarifResult{RuleID: f.Check, Level: sarifLevel(f.Severity), Message: sarifMessage{Text: strings.TrimSpace(f.Message + ". Fix: " + f.Fix)}}
		loc := sarifLocation{}
		if f.File != "" && f.File != "-" {
			loc.PhysicalLocation = &sarifPhysical{}
			loc.PhysicalLocation.ArtifactLocation.URI = f.File
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &struct {
					StartLine int `json:"startLine"`
				}{f.Line}
			}
		}
		loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: strings.Trim(f.Cluster+"/"+f.Object(), "/"), Kind: "resource"}}
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Version: "2.1.0", Schema: "https://json.schemastore.org/sarif-2.1.0.json", Runs: []sarifRun{run}})
}

func sarifLevel(severity string) string {
	switch severity {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

func checkTitle(check string) string {
	if t, ok := CheckTitles[check]; ok {
		return t
	}
	return check
}

// CheckTitles describes each check for reports.
var CheckTitles = map[string]string{}

// JUnit XML: one test case per finding, failing for errors and warnings.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func (r *Report) junit(w io.Writer) error {
	suite := junitSuite{Name: "upshift scan " + r.Scan}
	for _, f := range r.Findings {
		c := junitCase{Name: f.Object() + " (" + clusterSource(f) + ")", ClassName: f.Check}
		if f.Severity != SeverityInfo {
			c.Failure = &junitFailure{Message: f.Message, Type: f.Severity, Text: strings.TrimSpace(f.Message + "\n" + f.Fix)}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	if len(suite.Cases) == 0 {
		suite.Cases = append(suite.Cases, junitCase{Name: "no findings", ClassName: r.Scan})
	}
	suite.Tests = len(suite.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{suite}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// release names an add-on's release with the add-on ("cert-manager
// 1.6"); a Kubernetes release is the version alone.
func (f Finding) release(v string) string {
	if f.Component == "" || v == "" {
		return v
	}
	return f.Component + " " + v
}
