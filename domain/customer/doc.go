// Package customer is the aggregate of a bank's customer (an external user, guide §7.1): the profile the
// bank keeps with Kazna, the identity its authorization service gave at sign-up (external_id), whether the
// customer may act, and which accounts are theirs. One stream per customer: Stream(guid).
//
// The customer's accounts are account aggregates (package account, kind customer) opened before the customer
// is registered, so that a registered customer always has its first account; the customer stream lists
// their GUIDs so that one read answers "whose account is this" and "which accounts does this customer have".
//
// The login is unique within the counterparty through a reservation stream (LoginStream, package
// uniqueness) that the app layer claims first. The package is a pure decider: no I/O, no clock.
package customer
