// Package bolt is Kazna's embedded event store: eventstore.Store in one bbolt file, with group commit so that
// concurrent appenders share each fsync. An append is acknowledged only after its transaction is on disk.
//
// It never rewrites or deletes an event once written, and never acknowledges an append it has not synced.
package bolt
