// Package account is the aggregate of a digital entity (guide §8): one Stellar account with a trustline to the
// platform's asset, owned by a counterparty (its emission or processing entity; customers' accounts later).
// One stream per account: Stream(guid). The account's seed is sealed by custody before it reaches this
// package, and the sealed seed is recorded before the account exists on chain, so that no crash can leave an
// account without its key. It is a pure decider: no I/O, no clock.
package account
