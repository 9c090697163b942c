// Package bench holds hsmsim's benchmarks that compare a face of hsmsim with its peer in the
// same run: the node API over TLS on loopback against the same operation done in-process with
// the Go standard library. Ratios, not absolute times, are what these numbers are for: the
// machines are shared and noisy. Results and the command that produced them are recorded in
// docs/BENCHMARKS.md.
package bench
