// Package application is the aggregate of a counterparty's API application (a bank's own system that calls
// Kazna machine to machine): its client credentials, kept only as hashes of the secrets; its subscriptions to
// API products, each on one plan, the sensitive ones granted only after the platform's approval; and the
// aggregated call counts that feed call analytics and monthly quotas. One stream per application,
// Stream(guid); call counts go to one stream per UTC day, CallsStream(day).
// It never does I/O or reads a clock: time comes in the commands.
package application
