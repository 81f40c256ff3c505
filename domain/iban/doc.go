// Package iban validates and normalises International Bank Account Numbers (ISO 13616): the country must be in
// the SWIFT IBAN registry, the length must be that country's, and the check digits must pass ISO 7064 MOD 97-10.
// It is pure: no I/O, no big integers, standard library only. It never checks a BBAN's national structure or
// whether the account exists; that is the bank's business.
package iban
