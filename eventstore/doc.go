// Package eventstore is the port through which every state change of Kazna passes: append-only streams with
// expected revisions, the global log ($all), catch-up-then-live subscriptions, and a per-stream hash chain that
// makes a changed or removed event detectable.
//
// It knows no domain type and imports nothing of Kazna. Adapters (eventstore/bolt, eventstore/esdb) implement
// Store and prove it by passing RunConformance.
package eventstore
