// Package emission is the issuing and burning of e-money by a counterparty (guide §9): one aggregate per
// counterparty (stream emission-<counterparty guid>) holds the totals of its confirmed issues and burns, the
// reserve balance the bank last reported, and its requests. It enforces the reserve rule and the rule of one
// open request at a time; the platform (or the bank's auto_issue / auto_burn flag) confirms or cancels.
// The package is pure: no I/O, no clock (time comes in the commands); the payment on chain is the app's.
package emission
