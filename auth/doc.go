// Package auth holds Kazna's token and password rules: the platform's RS256 signing keyring and its JWKS, bank-signed
// JWTs (CX-Authorization) checked against the bank's own registered keys, short session tokens for the bank's
// authorization service (X-Session-ID), and password hashing. It performs no I/O of its own (time is passed in), and
// it never logs, prints or puts into an error message a token, a private key or a password.
package auth
