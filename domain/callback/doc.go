// Package callback is the bank notification of a settled payment (guide §12): which banks a payment owes a
// notice to (pay-out to the sender's bank and pay-in to the receiver's for a transfer between two banks, one
// transfer notice for a transfer inside one bank), the delivery log of each payment (stream
// LogStream(payment): every attempt, then delivered or abandoned), the retry policy, and each bank's signing
// secret (stream SecretStream(counterparty), kept sealed).
// It is pure: no I/O, no clock (time comes in the commands), no HTTP; the app layer sends the notices.
package callback
