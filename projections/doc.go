// Package projections keeps Kazna's read models: a Runner follows the global log ($all), applies each event
// in log order to every registered Projection, resumes after its last position when the subscription drops,
// and lets a writer wait until its own write is visible (WaitFor).
// It never writes to the event store and never decides anything: a read model is a view of the log.
package projections
