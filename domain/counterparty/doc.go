// Package counterparty is the aggregate of a bank (a counterparty of the processing centre): its profile,
// asset, emission and processing accounts, the bank authorization URLs, and the public keys (JWKs) with which
// the bank signs its JWTs. One stream per counterparty: Stream(guid).
// It is a pure decider: it never does I/O or reads a clock. The unique name is claimed by the app layer on
// NameStream(name) with package uniqueness before Register (and before an Update that renames).
package counterparty
