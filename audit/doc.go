// Package audit proves the books from the event log alone: it verifies every stream's hash chain and the
// continuity of the log, replays the read models as of a time or a log position, folds an account's balance
// at a point in time, and pages through an entity's events with their metadata for an auditor.
// It only reads the event store (through the eventstore port, so it works on every adapter); it never
// appends an event and never decides anything.
package audit
