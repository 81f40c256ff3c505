// Package branch is the aggregate of a bank's branch (guide §16): its name, unique within the counterparty
// through NameStream and package uniqueness, and a soft delete. One stream per branch: Stream(guid).
// It never does I/O or reads a clock. A deleted branch keeps its name's claim, so that Restore can never
// collide with a branch created meanwhile.
package branch
