// Package patch builds emergency node-image patch runs (`upshift patch`):
// it picks the image from the catalogue (by version, or the one that fixes
// the CVEs named), compresses the fleet's strategy by its emergency policy
// (stages and gates kept, soaks shortened, approvals skipped only if the
// policy says so) and reports, per cluster, the time from the image's
// release to patched.
package patch
