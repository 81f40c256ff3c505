// Package account is the aggregate of a digital entity (guide §8): one Stellar account with a trustline to the
// platform's asset, owned by a counterparty — its emission or processing entities, or one of its customers'
// accounts (kind customer, guide §7.1). One stream per account: Stream(guid). The account's seed is sealed
// by custody before it reaches this package, and the sealed seed is recorded before the account exists on
// chain, so that no crash can leave an account without its key. Blocking is recorded here after the app
// layer has deauthorized the trustline on chain. It is a pure decider: no I/O, no clock.
package account
