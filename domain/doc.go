// Package domain holds Kazna's business rules: aggregates, commands, events and invariants, as pure deciders.
// It never performs I/O and never reads a clock (time is passed in); adapters never reach into it.
package domain
