// Package command runs one command against one aggregate: load its stream, fold it, let the pure decider
// decide, append with the exact revision it decided on, and on a conflict reload and decide again (bounded).
// Event IDs derived from an idempotency key make a retried request a no-op.
// It never holds a business rule (the deciders in domain do), never reads a clock, and never appends
// without an exact expectation of the stream it decided on.
package command
